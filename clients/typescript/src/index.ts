/**
 * TypeScript client of the sessions.v1 chat-session service.
 *
 *   const client = new SessionsClient({ address: "127.0.0.1:50051", owner: "alice" });
 *   const session = await client.create("Trip planning", "demo@echo");
 *   for await (const event of client.send(session.id, "Hello")) { ... }
 *
 * The generated messages and enums are re-exported as they are.
 */
export { SessionsClient, type AttachOptions, type SessionsClientOptions, type SendOptions } from "./client.js";
export { SessionsError } from "./errors.js";
export * from "./gen/sessions/v1/sessions_pb.js";
