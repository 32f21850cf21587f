/**
 * SessionsClient: typed calls to the sessions.v1 service over gRPC (HTTP/2).
 *
 * Every method returns the contract's generated message types and throws a
 * SessionsError carrying the server's ErrorInfo reason.
 */
import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, createClient, type CallOptions, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  SessionService,
  type CancelResponse,
  type GetResponse,
  type ListRequestSchema,
  type ListResponse,
  type ManageRequestSchema,
  type ManageResponse,
  type Message,
  type SendResponse,
  type Session,
  type WatchResponse,
} from "./gen/sessions/v1/sessions_pb.js";
import { SessionsError } from "./errors.js";

export interface SessionsClientOptions {
  /** host:port of the server. */
  address: string;
  /** Bearer token (production). */
  token?: string;
  /** Owner and actor metadata, trusted by a server in development mode. */
  owner?: string;
  actor?: "user" | "agent";
  /** TLS: true for the system's roots, or the CA certificate(s) to trust (PEM). */
  tls?: boolean | { ca: string | Buffer };
  /** Deadline of each unary call, in ms (default 30 s). */
  timeoutMs?: number;
  /** Deadline of a whole Send stream, in ms (default 10 min). */
  sendTimeoutMs?: number;
}

type ManageAction = MessageInitShape<typeof ManageRequestSchema>["action"];

export interface SendOptions {
  /** Idempotency key: a retry with the same key never duplicates a message. */
  requestId?: string;
  /**
   * Keep generating when the caller leaves: the reply goes on on the server; read
   * it with attach (or get), stop it with cancel.
   */
  detach?: boolean;
  timeoutMs?: number;
  /** Aborting cancels the call; the server keeps the partial reply (or, detached, goes on). */
  signal?: AbortSignal;
}

export interface AttachOptions {
  /** The reply's seq (started.replySeq); 0n (the default) = the session's newest reply. */
  replySeq?: bigint;
  /** Code points already received: the last delta's endOffset; 0n (the default) = from the start. */
  afterOffset?: bigint;
  timeoutMs?: number;
  /** Aborting stops reading; the reply itself goes on. */
  signal?: AbortSignal;
}

export class SessionsClient {
  private readonly rpc: Client<typeof SessionService>;
  private readonly connection: Http2SessionManager;
  private readonly timeoutMs: number;
  private readonly sendTimeoutMs: number;

  constructor(options: SessionsClientOptions) {
    const identity: Interceptor = (next) => (request) => {
      if (options.token) request.header.set("authorization", `Bearer ${options.token}`);
      if (options.owner) request.header.set("x-owner", options.owner);
      if (options.actor) request.header.set("x-actor", options.actor);
      return next(request);
    };
    const tls = options.tls;
    const baseUrl = `${tls ? "https" : "http"}://${options.address}`;
    this.connection = new Http2SessionManager(
      baseUrl,
      {},
      typeof tls === "object" ? { ca: tls.ca } : {},
    );
    const transport = createGrpcTransport({
      baseUrl,
      interceptors: [identity],
      sessionManager: this.connection,
    });
    this.rpc = createClient(SessionService, transport);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.sendTimeoutMs = options.sendTimeoutMs ?? 600_000;
  }

  /** Closes the connection; calls in flight fail. A process exits only once it is closed. */
  close(): void {
    this.connection.abort();
  }

  private async unary<T>(call: (options: CallOptions) => Promise<T>, timeoutMs?: number): Promise<T> {
    try {
      return await call({ timeoutMs: timeoutMs ?? this.timeoutMs });
    } catch (error) {
      throw SessionsError.from(error);
    }
  }

  /** Creates a session; a repeat with the same requestId returns the same one. */
  async create(
    name: string,
    model: string,
    extra: { systemPrompt?: string; labels?: Record<string, string>; requestId?: string } = {},
  ): Promise<Session> {
    const request = { name, model, ...extra, requestId: extra.requestId ?? randomUUID() };
    const response = await this.unary((options) => this.rpc.create(request, options));
    if (!response.session) throw new SessionsError("no session in the response", Code.Unknown, "UNKNOWN", {});
    return response.session;
  }

  /** The session and its newest `messagesLimit` messages (older than `beforeSeq`). */
  get(sessionId: string, page: { messagesLimit?: number; beforeSeq?: bigint } = {}): Promise<GetResponse> {
    return this.unary((options) => this.rpc.get({ sessionId, ...page }, options));
  }

  /** One page of the caller's sessions, most recently active first. */
  list(request: MessageInitShape<typeof ListRequestSchema> = {}): Promise<ListResponse> {
    return this.unary((options) => this.rpc.list(request, options));
  }

  /** Applies one action: `{ case: "fork", value: { keepFirst: 2 } }`, `{ case: "archive", value: {} }`, ... */
  manage(sessionId: string, action: ManageAction, currentSessionId = ""): Promise<ManageResponse> {
    return this.unary((options) => this.rpc.manage({ sessionId, currentSessionId, action }, options));
  }

  rename(sessionId: string, name: string): Promise<ManageResponse> {
    return this.manage(sessionId, { case: "rename", value: { name } });
  }

  fork(sessionId: string, fork: { keepFirst?: number; name?: string } = {}): Promise<ManageResponse> {
    return this.manage(sessionId, { case: "fork", value: fork });
  }

  delete(sessionId: string): Promise<ManageResponse> {
    return this.manage(sessionId, { case: "delete", value: {} });
  }

  /**
   * The events of the reply as they arrive: started, deltas, completed. Leaving
   * the loop early cancels the call (the server keeps the partial reply).
   */
  send(sessionId: string, content: string, options: SendOptions = {}): AsyncGenerator<SendResponse> {
    const request = {
      sessionId,
      content,
      requestId: options.requestId ?? randomUUID(),
      detach: options.detach ?? false,
    };
    return stream(
      (call) => this.rpc.send(request, call),
      options.timeoutMs ?? this.sendTimeoutMs,
      options.signal,
    );
  }

  /** Sends a message and resolves to the stored reply; `onDelta` sees each piece. */
  async sendText(
    sessionId: string,
    content: string,
    options: SendOptions & { onDelta?: (text: string) => void } = {},
  ): Promise<Message> {
    for await (const response of this.send(sessionId, content, options)) {
      const event = response.event;
      if (event.case === "delta") options.onDelta?.(event.value.text);
      if (event.case === "completed" && event.value.assistantMessage) return event.value.assistantMessage;
    }
    throw new SessionsError("the reply stream ended without a completed event", Code.Internal, "INTERNAL", {});
  }

  /**
   * A reply's events as send gives them, from `afterOffset` on: started, the
   * deltas, completed (`replayed` when the reply had already ended). A reply in
   * progress streams live until it ends.
   */
  attach(sessionId: string, options: AttachOptions = {}): AsyncGenerator<SendResponse> {
    const request = { sessionId, replySeq: options.replySeq ?? 0n, afterOffset: options.afterOffset ?? 0n };
    return stream(
      (call) => this.rpc.attach(request, call),
      options.timeoutMs ?? this.sendTimeoutMs,
      options.signal,
    );
  }

  /**
   * Stops a reply being generated (`replySeq` 0n = the one in progress) and resolves
   * to it as stored; `cancelled` is false when it had already ended.
   */
  cancel(sessionId: string, options: { replySeq?: bigint } = {}): Promise<CancelResponse> {
    const request = { sessionId, replySeq: options.replySeq ?? 0n };
    return this.unary((call) => this.rpc.cancel(request, call));
  }

  /** Changes to the caller's sessions as they happen, until `signal` aborts. */
  watch(afterEventId = 0n, signal?: AbortSignal): AsyncGenerator<WatchResponse> {
    return stream((call) => this.rpc.watch({ afterEventId }, call), undefined, signal);
  }
}

/**
 * A server stream whose errors are SessionsErrors and which is cancelled when the
 * caller stops reading or its `signal` aborts.
 *
 * The deadline is sent as the grpc-timeout header and kept locally with
 * AbortSignal.timeout rather than Connect's `timeoutMs`: Connect 2.1.2 leaves the
 * timer of `timeoutMs` running when a stream is cancelled, which holds the Node
 * process open until the deadline; AbortSignal.timeout's timer does not.
 */
async function* stream<T>(
  open: (call: CallOptions) => AsyncIterable<T>,
  timeoutMs: number | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<T> {
  const stop = new AbortController();
  const deadline = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
  const signals = [stop.signal, ...(deadline ? [deadline] : []), ...(signal ? [signal] : [])];
  const responses = open({
    signal: AbortSignal.any(signals),
    headers: timeoutMs === undefined ? {} : { "grpc-timeout": `${Math.ceil(timeoutMs)}m` },
  })[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<T>;
      try {
        next = await responses.next();
      } catch (error) {
        if (deadline?.aborted) {
          throw new SessionsError("deadline exceeded", Code.DeadlineExceeded, "DEADLINE_EXCEEDED", {}, {
            cause: error,
          });
        }
        throw SessionsError.from(error);
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    stop.abort();
  }
}
