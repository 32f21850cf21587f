/**
 * Failed calls as one error type: the gRPC status code plus the server's
 * google.rpc.ErrorInfo reason (SESSION_NOT_FOUND, SESSION_STARRED, ...).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BinaryReader } from "@bufbuild/protobuf/wire";

const ERROR_INFO = "google.rpc.ErrorInfo";
const DOMAIN = "sessions.v1";

export class SessionsError extends Error {
  override readonly name = "SessionsError";

  constructor(
    message: string,
    /** The status code, as Connect names it (Code.NotFound, ...). */
    readonly code: Code,
    /** The ErrorInfo reason, or the code's name when the server sent none. */
    readonly reason: string,
    /** The ErrorInfo metadata (an INTERNAL error's correlation_id, for one). */
    readonly metadata: Readonly<Record<string, string>>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Any error thrown by a call, as a SessionsError. */
  static from(error: unknown): SessionsError {
    if (error instanceof SessionsError) {
      return error;
    }
    const connect = ConnectError.from(error);
    const info = connect.details
      .filter((detail) => "type" in detail && detail.type === ERROR_INFO)
      .map((detail) => decodeErrorInfo((detail as { value: Uint8Array }).value))
      .find((decoded) => decoded.domain === DOMAIN);
    return new SessionsError(
      connect.rawMessage,
      connect.code,
      info?.reason ?? codeName(connect.code),
      info?.metadata ?? {},
      { cause: error },
    );
  }
}

/** "NOT_FOUND" for Code.NotFound: the names every other client uses. */
function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

/**
 * google.rpc.ErrorInfo from its wire bytes: reason = 1, domain = 2,
 * metadata = 3 (map<string, string>: entries of key = 1, value = 2). Three
 * fields do not justify shipping all of googleapis' generated code.
 */
function decodeErrorInfo(bytes: Uint8Array): ErrorInfo {
  const info: ErrorInfo = { reason: "", domain: "", metadata: {} };
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) {
      info.reason = reader.string();
    } else if (field === 2) {
      info.domain = reader.string();
    } else if (field === 3) {
      const entry = new BinaryReader(reader.bytes());
      let key = "";
      let value = "";
      while (entry.pos < entry.len) {
        const [entryField, entryWireType] = entry.tag();
        if (entryField === 1) {
          key = entry.string();
        } else if (entryField === 2) {
          value = entry.string();
        } else {
          entry.skip(entryWireType);
        }
      }
      info.metadata[key] = value;
    } else {
      reader.skip(wireType);
    }
  }
  return info;
}
