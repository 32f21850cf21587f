// Command smoke calls a live sessions.v1 server with the generated Go client:
// Create, then a streaming Send whose reply it prints as it arrives, then a Get
// of a missing session, which must fail NOT_FOUND with reason SESSION_NOT_FOUND.
//
//	SESSIONS_ADDRESS=127.0.0.1:50051 smoke
//
// The server must be in development mode (it trusts the x-owner metadata).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"sessionsclient/sessionsv1"
)

const message = "hello from go"

func main() {
	if err := run(os.Getenv("SESSIONS_ADDRESS")); err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		fmt.Println("smoke: 0 passed, 1 failed")
		os.Exit(1)
	}
	fmt.Println("smoke: 1 passed, 0 failed")
}

func run(address string) error {
	if address == "" {
		return fmt.Errorf("SESSIONS_ADDRESS is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, address, grpc.WithInsecure())
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	defer conn.Close()
	client := sessionsv1.NewSessionServiceClient(conn)
	owner := fmt.Sprintf("go-smoke-%d", time.Now().UnixNano())
	ctx = metadata.AppendToOutgoingContext(ctx, "x-owner", owner, "x-actor", "user")

	created, err := client.Create(ctx, &sessionsv1.CreateRequest{Name: "Go smoke", Model: "demo@echo"})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	session := created.GetSession()
	fmt.Printf("created %s (%s@%s)\n", session.GetId(), session.GetModel(), session.GetEndpoint())

	reply, err := send(ctx, client, session.GetId())
	if err != nil {
		return err
	}
	if reply != message {
		return fmt.Errorf("reply %q, want %q", reply, message)
	}
	return expectNotFound(ctx, client)
}

// send streams the reply to stdout piece by piece and returns the stored reply.
func send(ctx context.Context, client sessionsv1.SessionServiceClient, sessionID string) (string, error) {
	stream, err := client.Send(ctx, &sessionsv1.SendRequest{SessionId: sessionID, Content: message})
	if err != nil {
		return "", fmt.Errorf("send: %w", err)
	}
	var streamed strings.Builder
	stored := ""
	fmt.Print("reply: ")
	for {
		response, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("send stream: %w", err)
		}
		switch event := response.GetEvent().(type) {
		case *sessionsv1.SendResponse_Started:
			if event.Started.GetUserMessage().GetContent() != message {
				return "", fmt.Errorf("started with %q", event.Started.GetUserMessage().GetContent())
			}
		case *sessionsv1.SendResponse_Delta:
			streamed.WriteString(event.Delta.GetText())
			fmt.Print(event.Delta.GetText())
		case *sessionsv1.SendResponse_Completed:
			stored = event.Completed.GetAssistantMessage().GetContent()
		}
	}
	fmt.Println()
	if stored != streamed.String() {
		return "", fmt.Errorf("stored reply %q differs from the streamed %q", stored, streamed.String())
	}
	return stored, nil
}

func expectNotFound(ctx context.Context, client sessionsv1.SessionServiceClient) error {
	_, err := client.Get(ctx, &sessionsv1.GetRequest{SessionId: "00000000-0000-0000-0000-000000000000"})
	st := status.Convert(err)
	if st.Code() != codes.NotFound {
		return fmt.Errorf("get of a missing session: %v, want NOT_FOUND", err)
	}
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok && info.GetReason() == "SESSION_NOT_FOUND" {
			fmt.Printf("missing session: %s %s\n", st.Code(), info.GetReason())
			return nil
		}
	}
	return fmt.Errorf("NOT_FOUND without ErrorInfo SESSION_NOT_FOUND: %v", st.Details())
}
