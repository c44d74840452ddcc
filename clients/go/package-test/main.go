// Command package-test is a ministry's program using the Go module layout
// (package.sh) from a module of its own: scripts/client-packages.sh writes
// its go.mod (require partnership.gov.kr/gen, replace it with the layout),
// builds it in module mode and runs it against a server it started with
// auth on, the token in PARTNERSHIP_TOKEN. Exits non-zero on the first
// check that fails.
//
//	package-test ADDRESS
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "partnership.gov.kr/gen/partnership/v1"
)

// expect fails unless err is a status with code want, and returns it.
func expect(err error, want codes.Code) *status.Status {
	st, ok := status.FromError(err)
	if !ok || st.Code() != want {
		log.Fatalf("expected %v, got %v", want, err)
	}
	return st
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: package-test ADDRESS")
	}
	token := os.Getenv("PARTNERSHIP_TOKEN")
	if token == "" {
		log.Fatal("PARTNERSHIP_TOKEN is not set")
	}
	conn, err := grpc.Dial(os.Args[1], grpc.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	smes := pb.NewSmeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err = smes.ListSmes(ctx, &pb.ListSmesRequest{})
	expect(err, codes.Unauthenticated)

	// A PerRPCCredentials asks for TLS; this server is plaintext on loopback.
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	random := make([]byte, 4)
	if _, err := rand.Read(random); err != nil {
		log.Fatal(err)
	}
	id := fmt.Sprintf("go-pkg-%x", random)
	displayName := "Go package check " + id
	created, err := smes.CreateSme(ctx, &pb.CreateSmeRequest{
		Sme: &pb.Sme{
			DisplayName:   displayName,
			Size:          pb.EnterpriseSize_ENTERPRISE_SIZE_SMALL,
			EmployeeCount: proto.Int32(12),
		},
		SmeId: id,
	})
	if err != nil {
		log.Fatalf("create: %v", err)
	}
	if created.Name != "smes/"+id || created.Etag == "" {
		log.Fatalf("created %q etag %q", created.Name, created.Etag)
	}

	got, err := smes.GetSme(ctx, &pb.GetSmeRequest{Name: created.Name})
	if err != nil || got.DisplayName != displayName || got.GetEmployeeCount() != 12 {
		log.Fatalf("get: %v %v", got, err)
	}

	page, err := smes.ListSmes(ctx, &pb.ListSmesRequest{Filter: fmt.Sprintf("display_name = %q", displayName)})
	if err != nil || len(page.Smes) != 1 || page.Smes[0].Name != created.Name {
		log.Fatalf("list: %v %v", page, err)
	}

	_, err = smes.GetSme(ctx, &pb.GetSmeRequest{Name: "not a name"})
	fields := []string{}
	for _, d := range expect(err, codes.InvalidArgument).Details() {
		if bad, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range bad.FieldViolations {
				fields = append(fields, v.Field)
			}
		}
	}
	if len(fields) != 1 || fields[0] != "name" {
		log.Fatalf("bad request fields %v", fields)
	}
	_, err = smes.GetSme(ctx, &pb.GetSmeRequest{Name: "smes/no-such-" + id})
	reason := ""
	for _, d := range expect(err, codes.NotFound).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			reason = info.Reason
		}
	}
	if reason != "RESOURCE_NOT_FOUND" {
		log.Fatalf("not found reason %q", reason)
	}

	deleted, err := smes.DeleteSme(ctx, &pb.DeleteSmeRequest{Name: created.Name})
	if err != nil || deleted.DeleteTime == nil {
		log.Fatalf("delete: %v %v", deleted, err)
	}
	fmt.Printf("go module: created, got, listed and deleted %s; Unauthenticated, InvalidArgument (name) and NotFound (RESOURCE_NOT_FOUND) decoded\n", created.Name)
}
