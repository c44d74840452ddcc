// Command example calls the partnership service: it creates a company, an
// SME, a program and a participation, lists them, decodes the ErrorInfo and
// BadRequest of a rejected request and the NOT_FOUND of a missing name, then
// deletes what it created (a soft delete, so nothing it made stays live).
//
//	eval "$(./generate.sh)"      # stubs, and the GOPATH-mode environment
//	go run ./example [-tls-ca ca.pem] [ADDRESS]
//
// ADDRESS defaults to 127.0.0.1:50051. With -tls-ca the connection uses TLS
// and trusts that CA; then PARTNERSHIP_TOKEN, if set, is sent as a bearer
// token (for when the service requires one).
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "partnership.gov.kr/gen/partnership/v1"
)

func main() {
	caFile := flag.String("tls-ca", "", "PEM file of the CA that signed the server's certificate (TLS); plaintext without it")
	serviceConfig := flag.String("service-config", "../service-config.json", "the service's retry policy (clients/service-config.json); empty for none")
	flag.Parse()
	address := "127.0.0.1:50051"
	if flag.NArg() > 0 {
		address = flag.Arg(0)
	}

	opts := []grpc.DialOption{}
	if *caFile != "" {
		creds, err := credentials.NewClientTLSFromFile(*caFile, "")
		if err != nil {
			log.Fatal(err)
		}
		opts = append(opts, grpc.WithTransportCredentials(creds))
		if token := os.Getenv("PARTNERSHIP_TOKEN"); token != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(token)))
		}
	} else {
		opts = append(opts, grpc.WithInsecure())
	}
	if *serviceConfig != "" {
		// Retries UNAVAILABLE on the methods safe to repeat (reads, creates
		// with a request_id, updates); see the main README.
		config, err := os.ReadFile(*serviceConfig)
		if err != nil {
			log.Fatal(err)
		}
		opts = append(opts, grpc.WithDefaultServiceConfig(string(config)))
	}
	conn, err := grpc.Dial(address, opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, conn, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// bearerToken sends "authorization: Bearer TOKEN" with every call, for when
// the service requires a token (today it accepts and ignores the header).
type bearerToken string

func (t bearerToken) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity keeps the token off plaintext connections.
func (t bearerToken) RequireTransportSecurity() bool { return true }

// newRequestID returns a random UUID (version 4): a retry with the same
// request_id never creates twice.
func newRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newTraceparent starts a W3C trace: version 00, a random trace id and
// parent span id, sampled.
func newTraceparent() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return fmt.Sprintf("00-%x-%x-01", b[:16], b[16:])
}

func first(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

func run(ctx context.Context, conn *grpc.ClientConn, out io.Writer) error {
	companies := pb.NewCompanyServiceClient(conn)
	smes := pb.NewSmeServiceClient(conn)
	programs := pb.NewProgramServiceClient(conn)

	// The call joins the caller's trace: W3C trace context as metadata (an
	// OpenTelemetry-instrumented client, e.g. otelgrpc, sends it itself).
	// The service answers with the trace id it used in x-trace-id, the id
	// to quote in a support ticket.
	traceparent := newTraceparent()
	var header metadata.MD
	company, err := companies.CreateCompany(
		metadata.AppendToOutgoingContext(ctx, "traceparent", traceparent),
		&pb.CreateCompanyRequest{
			Company: &pb.Company{
				DisplayName: "Example Heavy Industries",
				Size:        pb.EnterpriseSize_ENTERPRISE_SIZE_LARGE,
				Region:      pb.Region_REGION_ULSAN,
			},
			RequestId: newRequestID(),
		},
		grpc.Header(&header),
	)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "created", company.Name, "etag", company.Etag)
	fmt.Fprintln(out, "trace sent", strings.Split(traceparent, "-")[1], "answered", first(header.Get("x-trace-id")))

	sme, err := smes.CreateSme(ctx, &pb.CreateSmeRequest{
		Sme: &pb.Sme{
			DisplayName: "Example Parts",
			Size:        pb.EnterpriseSize_ENTERPRISE_SIZE_SMALL,
			Region:      pb.Region_REGION_CHUNGNAM,
		},
		RequestId: newRequestID(),
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "created", sme.Name)

	program, err := programs.CreateProgram(ctx, &pb.CreateProgramRequest{
		Program: &pb.Program{
			DisplayName: "Smart factory support",
			HostCompany: company.Name,
			Kind:        pb.ProgramKind_PROGRAM_KIND_SMART_FACTORY,
			StartDate:   &date.Date{Year: 2026, Month: 1, Day: 1},
			BudgetKrw:   proto.Int64(5_000_000_000), // optional fields are pointers
			Funders: []*pb.Funder{{
				DisplayName:     "Ministry of SMEs and Startups",
				ContributionKrw: proto.Int64(2_000_000_000),
			}},
		},
		RequestId: newRequestID(),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "created %s (%s)\n", program.Name, program.State)

	participation, err := programs.CreateParticipation(ctx, &pb.CreateParticipationRequest{
		Parent: program.Name,
		Participation: &pb.Participation{
			Sme:              sme.Name,
			SupportAmountKrw: proto.Int64(300_000_000),
			JoinedDate:       &date.Date{Year: 2026, Month: 3, Day: 10},
			Outcomes: []*pb.Outcome{{
				Metric:   "delivery lead time",
				Baseline: proto.Float64(10),
				Achieved: proto.Float64(7),
				Unit:     "days",
			}},
		},
		RequestId: newRequestID(),
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "created", participation.Name)

	page, err := programs.ListPrograms(ctx, &pb.ListProgramsRequest{PageSize: 10})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d programs; first page:\n", page.TotalSize)
	for _, p := range page.Programs {
		fmt.Fprintln(out, " ", p.Name, p.DisplayName)
	}
	parts, err := programs.ListParticipations(ctx, &pb.ListParticipationsRequest{Parent: program.Name})
	if err != nil {
		return err
	}
	for _, p := range parts.Participations {
		fmt.Fprintf(out, "  %s sme %s support %d KRW\n", p.Name, p.Sme, p.GetSupportAmountKrw())
	}

	// A bad business registration number (wrong check digit): INVALID_ARGUMENT
	// with an ErrorInfo and a BadRequest naming the field.
	_, err = companies.CreateCompany(ctx, &pb.CreateCompanyRequest{
		Company: &pb.Company{
			DisplayName:    "Bad number",
			BusinessNumber: "124-81-00997",
			Size:           pb.EnterpriseSize_ENTERPRISE_SIZE_LARGE,
		},
	})
	if err == nil {
		return fmt.Errorf("a bad business number was accepted")
	}
	st := status.Convert(err)
	fmt.Fprintln(out, "rejected:", st.Code(), st.Message())
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			fmt.Fprintln(out, "  reason", d.Reason, "domain", d.Domain)
		case *errdetails.BadRequest:
			for _, v := range d.FieldViolations {
				fmt.Fprintf(out, "  %s: %s\n", v.Field, v.Description)
			}
		}
	}

	_, err = companies.GetCompany(ctx, &pb.GetCompanyRequest{Name: "companies/no-such"})
	if err == nil {
		return fmt.Errorf("a missing company was found")
	}
	st = status.Convert(err)
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			fmt.Fprintln(out, "missing:", st.Code(), "reason", info.Reason)
		}
	}

	// Clean up: the program with its participation (force), the company, the SME.
	if _, err := programs.DeleteProgram(ctx, &pb.DeleteProgramRequest{Name: program.Name, Force: true}); err != nil {
		return err
	}
	if _, err := companies.DeleteCompany(ctx, &pb.DeleteCompanyRequest{Name: company.Name}); err != nil {
		return err
	}
	if _, err := smes.DeleteSme(ctx, &pb.DeleteSmeRequest{Name: sme.Name}); err != nil {
		return err
	}
	fmt.Fprintf(out, "deleted %s, %s, %s\n", program.Name, company.Name, sme.Name)
	return nil
}
