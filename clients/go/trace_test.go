package partnership_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "partnership.gov.kr/gen/partnership/v1"
)

// A call sent with W3C trace context is answered with its trace id in
// x-trace-id: in the headers of an answer, in the trailers of an error
// answered at once. Without one, the service starts a trace and says which.
func TestTraceContext(t *testing.T) {
	companies := pb.NewCompanyServiceClient(conn)
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	traced := metadata.AppendToOutgoingContext(ctx(t),
		"traceparent", "00-"+trace+"-00f067aa0ba902b7-01", "tracestate", "ministry=7f3a")

	var header metadata.MD
	if _, err := companies.ListCompanies(traced, &pb.ListCompaniesRequest{PageSize: 1}, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if got := header.Get("x-trace-id"); len(got) != 1 || got[0] != trace {
		t.Errorf("x-trace-id %v, want %s", got, trace)
	}

	var trailer metadata.MD
	_, err := companies.GetCompany(traced, &pb.GetCompanyRequest{Name: "companies/no-such-company"}, grpc.Trailer(&trailer))
	if status.Code(err) != codes.NotFound {
		t.Fatalf("want NotFound, got %v", err)
	}
	if got := trailer.Get("x-trace-id"); len(got) != 1 || got[0] != trace {
		t.Errorf("x-trace-id of the error %v, want %s", got, trace)
	}

	header = nil
	if _, err := companies.ListCompanies(ctx(t), &pb.ListCompaniesRequest{PageSize: 1}, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if got := header.Get("x-trace-id"); len(got) != 1 || len(got[0]) != 32 || got[0] == trace {
		t.Errorf("a call without trace context: x-trace-id %v", got)
	}
}
