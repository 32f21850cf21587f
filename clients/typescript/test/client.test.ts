/**
 * The TypeScript client against the real Python server: Create -> Send (reading
 * the stream) -> List -> Manage fork -> Get, Attach and Cancel, and errors with
 * their reason.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  MessageStatus,
  Role,
  SessionsClient,
  SessionsError,
  type SendResponse,
} from "../src/index.js";
import { startLiveServer, type LiveServer } from "./live-server.js";

let server: LiveServer;
const clients: SessionsClient[] = [];

before(async () => {
  server = await startLiveServer();
});

after(async () => {
  for (const client of clients) client.close();
  await server?.stop();
});

function clientFor(owner: string, actor: "user" | "agent" = "user"): SessionsClient {
  const client = new SessionsClient({ address: server.address, owner, actor, timeoutMs: 10_000 });
  clients.push(client);
  return client;
}

test("create, send (streamed), list, fork and get", async () => {
  const client = clientFor(`ts-${randomUUID()}`);
  const session = await client.create("Trip planning", "demo@echo", { labels: { team: "web" } });
  assert.equal(session.name, "Trip planning");
  assert.equal(session.endpoint, "echo");
  assert.deepEqual(session.labels, { team: "web" });

  const events: SendResponse[] = [];
  for await (const event of client.send(session.id, "hello from typescript")) {
    events.push(event);
  }
  // Pieces that arrive together may travel as one delta: count none.
  const kinds = events.map((e) => e.event.case);
  assert.equal(kinds[0], "started");
  assert.deepEqual(new Set(kinds.slice(1, -1)), new Set(["delta"]));
  assert.equal(kinds.at(-1), "completed");
  const deltas = events.flatMap((e) => (e.event.case === "delta" ? [e.event.value.text] : []));
  assert.equal(deltas.join(""), "hello from typescript");
  const last = events.at(-1)!.event;
  assert.equal(last.case, "completed");
  assert.equal(last.value.assistantMessage?.role, Role.ASSISTANT);
  assert.equal(last.value.assistantMessage?.status, MessageStatus.COMPLETE);

  const pieces: string[] = [];
  const reply = await client.sendText(session.id, "second turn", { onDelta: (t) => pieces.push(t) });
  assert.equal(reply.content, "second turn");
  assert.equal(pieces.join(""), "second turn");

  const listed = await client.list({ query: "trip" });
  assert.equal(listed.totalSize, 1);
  assert.equal(listed.sessions[0]?.id, session.id);
  assert.equal(listed.sessions[0]?.messageCount, 4n);

  const fork = await client.fork(session.id, { keepFirst: 2 });
  assert.equal(fork.messagesCopied, 2n);
  assert.equal(fork.session?.forkedFrom, session.id);
  assert.equal(fork.session?.name, "Fork: Trip planning");

  const got = await client.get(fork.session!.id, { messagesLimit: 10 });
  assert.deepEqual(
    got.messages.map((m) => [m.role, m.content]),
    [
      [Role.USER, "hello from typescript"],
      [Role.ASSISTANT, "hello from typescript"],
    ],
  );
  assert.equal(got.hasMore, false);
});

test("a missing session is NOT_FOUND with its reason", async () => {
  const client = clientFor(`ts-${randomUUID()}`);
  await assert.rejects(client.get(randomUUID()), (error: unknown) => {
    assert.ok(error instanceof SessionsError);
    assert.equal(error.code, Code.NotFound);
    assert.equal(error.reason, "SESSION_NOT_FOUND");
    return true;
  });
  await assert.rejects(
    async () => {
      for await (const _ of client.send(randomUUID(), "anyone there?")) {
        assert.fail("no event expected");
      }
    },
    (error: unknown) => error instanceof SessionsError && error.reason === "SESSION_NOT_FOUND",
  );
});

test("an agent may star but not unstar", async () => {
  const owner = `ts-${randomUUID()}`;
  const agent = clientFor(owner, "agent");
  const session = await agent.create("kept", "demo");
  const starred = await agent.manage(session.id, { case: "star", value: {} });
  assert.equal(starred.session?.starred, true);
  await assert.rejects(agent.manage(session.id, { case: "unstar", value: {} }), (error: unknown) => {
    assert.ok(error instanceof SessionsError);
    assert.equal(error.code, Code.PermissionDenied);
    assert.equal(error.reason, "UNSTAR_FORBIDDEN");
    return true;
  });
  await assert.rejects(agent.delete(session.id), { reason: "SESSION_STARRED" });
});

test("invalid input is INVALID_ARGUMENT and changes nothing", async () => {
  const client = clientFor(`ts-${randomUUID()}`);
  await assert.rejects(client.create("   ", "demo"), {
    code: Code.InvalidArgument,
    reason: "INVALID_ARGUMENT",
  });
  await assert.rejects(client.create("x", "demo@nowhere"), { reason: "MODEL_UNKNOWN" });
  assert.equal((await client.list()).totalSize, 0);
});

test("leaving the stream early cancels the call", async () => {
  const client = clientFor(`ts-${randomUUID()}`);
  const session = await client.create("early exit", "demo@echo");
  for await (const event of client.send(session.id, "one two three four")) {
    if (event.event.case === "delta") break;
  }
  // The server stores the reply (INCOMPLETE, or COMPLETE if it was quicker) and
  // frees the session once it has seen the cancel.
  for (let tries = 0; (await client.get(session.id)).session?.messageCount !== 2n; tries++) {
    assert.ok(tries < 100, "the cancelled reply was never stored");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const reply = await client.sendText(session.id, "again");
  assert.equal(reply.content, "again");
});

test("a deadline is honoured", async () => {
  const client = clientFor(`ts-${randomUUID()}`);
  const session = await client.create("hurry", "demo@echo");
  await assert.rejects(client.sendText(session.id, "too slow", { timeoutMs: 1 }), {
    code: Code.DeadlineExceeded,
    reason: "DEADLINE_EXCEEDED",
  });
  const quick = new SessionsClient({ address: server.address, owner: "x", timeoutMs: 1 });
  clients.push(quick);
  await assert.rejects(quick.list(), { code: Code.DeadlineExceeded });
});

test("a reply is attached to again by its seq and offset, and cancelled once ended is unchanged", async () => {
  const client = clientFor(`ts-${randomUUID()}`);
  const session = await client.create("attach", "demo@echo");
  await assert.rejects(client.cancel(session.id), { code: Code.NotFound, reason: "REPLY_NOT_FOUND" });

  const sent: SendResponse[] = [];
  for await (const event of client.send(session.id, "one two three", { detach: true })) sent.push(event);
  const started = sent[0]!.event;
  assert.equal(started.case, "started");
  const replySeq = started.value.replySeq;
  assert.equal(replySeq, 2n);
  const offsets = sent.flatMap((e) => (e.event.case === "delta" ? [e.event.value.endOffset] : []));
  assert.equal(offsets.at(-1), BigInt("one two three".length));

  const replayed: SendResponse[] = [];
  for await (const event of client.attach(session.id, { replySeq, afterOffset: 4n })) replayed.push(event);
  assert.equal(replayed[0]?.event.case, "started");
  const rest = replayed.flatMap((e) => (e.event.case === "delta" ? [e.event.value.text] : []));
  assert.equal(rest.join(""), "two three");
  const completed = replayed.at(-1)!.event;
  assert.equal(completed.case, "completed");
  assert.equal(completed.value.replayed, true);
  assert.equal(completed.value.assistantMessage?.content, "one two three");

  const cancelled = await client.cancel(session.id);
  assert.equal(cancelled.cancelled, false);
  assert.equal(cancelled.assistantMessage?.seq, replySeq);
  assert.equal(cancelled.assistantMessage?.status, MessageStatus.COMPLETE);
  await assert.rejects(
    async () => {
      for await (const _ of client.attach(session.id, { afterOffset: 99n })) assert.fail("no event expected");
    },
    { code: Code.InvalidArgument },
  );
});
