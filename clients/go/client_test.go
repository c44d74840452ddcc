// The Go client against a live server: creates, reads back, lists, errors,
// TLS. TestMain starts one server for the suite; the TLS tests start their own.
package partnership_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "partnership.gov.kr/gen/partnership/v1"
)

var (
	addr string
	conn *grpc.ClientConn
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "partnership-go-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := startServer(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	addr = srv.addr
	// The published retry policy, as a client of the service uses it.
	serviceConfig, err := os.ReadFile("../service-config.json")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	conn, err = grpc.Dial(addr, grpc.WithInsecure(), grpc.WithDefaultServiceConfig(string(serviceConfig)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	conn.Close()
	if err := srv.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func newID(prefix string) string {
	return fmt.Sprintf("%s-%x", prefix, time.Now().UnixNano())
}

// newRequestID returns a random UUID (version 4).
func newRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// businessNumber appends the check digit to nine digits.
func businessNumber(nine string) string {
	weights := []int{1, 3, 7, 1, 3, 7, 1, 3, 5}
	sum := 0
	for i, w := range weights {
		sum += int(nine[i]-'0') * w
	}
	sum += int(nine[8]-'0') * 5 / 10
	return fmt.Sprintf("%s%d", nine, (10-sum%10)%10)
}

type details struct {
	code   codes.Code
	info   *errdetails.ErrorInfo
	fields []string
}

// decode reads the google.rpc.Status of a failed call.
func decode(t *testing.T, err error) details {
	t.Helper()
	if err == nil {
		t.Fatal("the call succeeded")
	}
	st := status.Convert(err)
	d := details{code: st.Code()}
	for _, detail := range st.Details() {
		switch v := detail.(type) {
		case *errdetails.ErrorInfo:
			d.info = v
		case *errdetails.BadRequest:
			for _, f := range v.FieldViolations {
				if f.Description == "" {
					t.Errorf("violation of %s has no description", f.Field)
				}
				d.fields = append(d.fields, f.Field)
			}
		case error:
			t.Fatalf("undecodable detail: %v", v)
		}
	}
	sort.Strings(d.fields)
	return d
}

func TestCheckDigit(t *testing.T) {
	for nine, want := range map[string]string{"124810099": "1248100998", "314810512": "3148105126"} {
		if got := businessNumber(nine); got != want {
			t.Errorf("businessNumber(%s) = %s, want %s", nine, got, want)
		}
	}
}

func TestCompanyCreateGetList(t *testing.T) {
	companies := pb.NewCompanyServiceClient(conn)
	req := &pb.CreateCompanyRequest{
		CompanyId: newID("go"),
		RequestId: newRequestID(),
		Company: &pb.Company{
			DisplayName:    "  Samsung Electronics ",
			BusinessNumber: "1248100998",
			Size:           pb.EnterpriseSize_ENTERPRISE_SIZE_LARGE,
			Region:         pb.Region_REGION_GYEONGGI,
			KsicCode:       "26111",
		},
	}
	created, err := companies.CreateCompany(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"name", created.Name, "companies/" + req.CompanyId},
		{"display_name", created.DisplayName, "Samsung Electronics"},
		{"business_number", created.BusinessNumber, "124-81-00998"},
		{"ksic_code", created.KsicCode, "C26111"},
		{"size", created.Size.String(), "ENTERPRISE_SIZE_LARGE"},
		{"region", created.Region.String(), "REGION_GYEONGGI"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if created.Etag == "" || created.CreateTime == nil || created.DeleteTime != nil {
		t.Errorf("etag %q, create_time %v, delete_time %v", created.Etag, created.CreateTime, created.DeleteTime)
	}

	// The same request_id again returns the first answer and creates nothing.
	again, err := companies.CreateCompany(ctx(t), req)
	if err != nil || !proto.Equal(again, created) {
		t.Errorf("repeated create: %v, %v", again, err)
	}
	got, err := companies.GetCompany(ctx(t), &pb.GetCompanyRequest{Name: created.Name})
	if err != nil || !proto.Equal(got, created) {
		t.Errorf("get: %v, %v; want %v", got, err, created)
	}

	var names []string
	var total int32
	token := ""
	for {
		page, err := companies.ListCompanies(ctx(t), &pb.ListCompaniesRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Companies {
			names = append(names, c.Name)
		}
		total = page.TotalSize
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if int(total) != len(names) || !strings.Contains(strings.Join(names, " "), created.Name) {
		t.Errorf("listed %v (total_size %d), want %s among them", names, total, created.Name)
	}
}

func TestProgramAndParticipation(t *testing.T) {
	companies := pb.NewCompanyServiceClient(conn)
	smes := pb.NewSmeServiceClient(conn)
	programs := pb.NewProgramServiceClient(conn)

	host, err := companies.CreateCompany(ctx(t), &pb.CreateCompanyRequest{Company: &pb.Company{
		DisplayName: "Hanwha Ocean", Size: pb.EnterpriseSize_ENTERPRISE_SIZE_LARGE,
	}})
	if err != nil {
		t.Fatal(err)
	}
	sme, err := smes.CreateSme(ctx(t), &pb.CreateSmeRequest{SmeId: newID("daewon"), Sme: &pb.Sme{
		DisplayName:    "Daewon Industry",
		BusinessNumber: businessNumber("609810001"),
		Size:           pb.EnterpriseSize_ENTERPRISE_SIZE_SMALL,
		Region:         pb.Region_REGION_GYEONGNAM,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := smes.GetSme(ctx(t), &pb.GetSmeRequest{Name: sme.Name}); err != nil || !proto.Equal(got, sme) {
		t.Errorf("get sme: %v, %v", got, err)
	}
	smeList, err := smes.ListSmes(ctx(t), &pb.ListSmesRequest{})
	if err != nil || !containsSme(smeList.Smes, sme) {
		t.Errorf("list smes: %v, %v", smeList, err)
	}

	program, err := programs.CreateProgram(ctx(t), &pb.CreateProgramRequest{
		RequestId: newRequestID(),
		Program: &pb.Program{
			DisplayName: "Profit sharing",
			HostCompany: host.Name,
			Kind:        pb.ProgramKind_PROGRAM_KIND_PROFIT_SHARING,
			StartDate:   &date.Date{Year: 2026, Month: 1, Day: 1},
			BudgetKrw:   proto.Int64(1_000_000_000),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(program.Name, "programs/") || program.State != pb.ProgramState_PROGRAM_STATE_PLANNED ||
		program.HostCompany != host.Name || program.GetBudgetKrw() != 1_000_000_000 || program.StartDate.GetYear() != 2026 {
		t.Errorf("created program %v", program)
	}
	if got, err := programs.GetProgram(ctx(t), &pb.GetProgramRequest{Name: program.Name}); err != nil || !proto.Equal(got, program) {
		t.Errorf("get program: %v, %v", got, err)
	}
	listed, err := programs.ListPrograms(ctx(t), &pb.ListProgramsRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range listed.Programs {
		found = found || proto.Equal(p, program)
	}
	if !found {
		t.Errorf("%s not listed", program.Name)
	}

	part, err := programs.CreateParticipation(ctx(t), &pb.CreateParticipationRequest{
		Parent: program.Name,
		Participation: &pb.Participation{
			Sme:              sme.Name,
			SupportAmountKrw: proto.Int64(5_000_000),
			JoinedDate:       &date.Date{Year: 2026, Month: 3, Day: 10},
			Outcomes: []*pb.Outcome{{
				Metric: "bonus rate", Baseline: proto.Float64(0), Achieved: proto.Float64(100), Unit: "percent",
			}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(part.Name, program.Name+"/participations/") || part.Sme != sme.Name ||
		part.GetSupportAmountKrw() != 5_000_000 || len(part.Outcomes) != 1 ||
		part.Outcomes[0].Metric != "bonus rate" || part.Outcomes[0].Baseline == nil || part.Outcomes[0].GetAchieved() != 100 {
		t.Errorf("created participation %v", part)
	}
	if got, err := programs.GetParticipation(ctx(t), &pb.GetParticipationRequest{Name: part.Name}); err != nil || !proto.Equal(got, part) {
		t.Errorf("get participation: %v, %v", got, err)
	}
	parts, err := programs.ListParticipations(ctx(t), &pb.ListParticipationsRequest{Parent: program.Name})
	if err != nil || len(parts.Participations) != 1 || !proto.Equal(parts.Participations[0], part) {
		t.Errorf("list participations: %v, %v", parts, err)
	}

	// A second live participation of the same SME in the program is refused.
	_, err = programs.CreateParticipation(ctx(t), &pb.CreateParticipationRequest{
		Parent: program.Name, Participation: &pb.Participation{Sme: sme.Name},
	})
	if d := decode(t, err); d.code != codes.AlreadyExists || d.info.GetReason() != "SME_ALREADY_PARTICIPATES" {
		t.Errorf("duplicate participation: %v %v", d.code, d.info)
	}
}

func containsSme(list []*pb.Sme, want *pb.Sme) bool {
	for _, s := range list {
		if proto.Equal(s, want) {
			return true
		}
	}
	return false
}

func TestBadRequestDetails(t *testing.T) {
	companies := pb.NewCompanyServiceClient(conn)
	_, err := companies.CreateCompany(ctx(t), &pb.CreateCompanyRequest{Company: &pb.Company{
		DisplayName:    "Bad number",
		BusinessNumber: "124-81-00997",
		Size:           pb.EnterpriseSize_ENTERPRISE_SIZE_SMALL,
	}})
	d := decode(t, err)
	if d.code != codes.InvalidArgument {
		t.Errorf("code %v, want InvalidArgument", d.code)
	}
	if d.info == nil {
		t.Fatal("no ErrorInfo")
	}
	if d.info.Reason != "INVALID_ARGUMENT" || d.info.Domain != "partnership.gov.kr" {
		t.Errorf("ErrorInfo %v", d.info)
	}
	want := []string{"company.business_number", "company.size"}
	metaFields := strings.Split(d.info.Metadata["fields"], ",")
	sort.Strings(metaFields)
	if !reflect.DeepEqual(metaFields, want) {
		t.Errorf("ErrorInfo fields %v, want %v", metaFields, want)
	}
	if !reflect.DeepEqual(d.fields, want) {
		t.Errorf("BadRequest fields %v, want %v", d.fields, want)
	}
}

func TestNotFoundAndMalformedName(t *testing.T) {
	companies := pb.NewCompanyServiceClient(conn)
	_, err := companies.GetCompany(ctx(t), &pb.GetCompanyRequest{Name: "companies/does-not-exist"})
	if d := decode(t, err); d.code != codes.NotFound || d.info.GetReason() != "RESOURCE_NOT_FOUND" {
		t.Errorf("missing company: %v %v", d.code, d.info)
	}
	_, err = companies.GetCompany(ctx(t), &pb.GetCompanyRequest{Name: "not a name"})
	if d := decode(t, err); d.code != codes.InvalidArgument || !reflect.DeepEqual(d.fields, []string{"name"}) {
		t.Errorf("malformed name: %v %v", d.code, d.fields)
	}
}

type bearerToken string

func (t bearerToken) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (t bearerToken) RequireTransportSecurity() bool { return true }

func TestTLSWithBearerToken(t *testing.T) {
	dir := t.TempDir()
	certs(t, dir)
	// Mint a token the way an operator does: the token on stdout, the
	// callers' file entry on stderr.
	callers := filepath.Join(dir, "callers.toml")
	entries, err := os.Create(callers)
	if err != nil {
		t.Fatal(err)
	}
	mint := exec.Command(binary(), "token", "new", "go-suite", "--scopes", "read")
	mint.Stderr = entries
	out, err := mint.Output()
	entries.Close()
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(out))
	srv, err := startServer(dir, "--tls-cert", filepath.Join(dir, "server.pem"), "--tls-key", filepath.Join(dir, "server.key"),
		"--auth-config", callers)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()

	creds, err := credentials.NewClientTLSFromFile(filepath.Join(dir, "ca.pem"), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		want  codes.Code
	}{{token, codes.OK}, {"pt_not-a-token", codes.Unauthenticated}} {
		secure, err := grpc.Dial("localhost:"+srv.port(), grpc.WithTransportCredentials(creds),
			grpc.WithPerRPCCredentials(bearerToken(tc.token)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = pb.NewCompanyServiceClient(secure).ListCompanies(ctx(t), &pb.ListCompaniesRequest{})
		if got := status.Code(err); got != tc.want {
			t.Errorf("token %q over TLS: %v, want %v", tc.token, err, tc.want)
		}
		// A read token may not write: PERMISSION_DENIED, before any lookup.
		_, err = pb.NewCompanyServiceClient(secure).DeleteCompany(ctx(t), &pb.DeleteCompanyRequest{Name: "companies/nope"})
		want := codes.PermissionDenied
		if tc.want != codes.OK {
			want = tc.want
		}
		if got := status.Code(err); got != want {
			t.Errorf("token %q deleting: %v, want %v", tc.token, err, want)
		}
		secure.Close()
	}

	// grpc-go refuses to send a token that requires TLS over plaintext.
	if _, err := grpc.Dial(addr, grpc.WithInsecure(), grpc.WithPerRPCCredentials(bearerToken("x"))); err == nil {
		t.Error("a bearer token was allowed on a plaintext connection")
	}
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	certs(t, dir)
	srv, err := startServer(dir, "--tls-cert", filepath.Join(dir, "server.pem"), "--tls-key", filepath.Join(dir, "server.key"),
		"--tls-client-ca", filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()

	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	dial := func(config *tls.Config) error {
		c, err := grpc.Dial("localhost:"+srv.port(), grpc.WithTransportCredentials(credentials.NewTLS(config)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = pb.NewCompanyServiceClient(c).ListCompanies(ctx(t), &pb.ListCompaniesRequest{})
		return err
	}
	if err := dial(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}); err != nil {
		t.Errorf("with a client certificate: %v", err)
	}
	if err := dial(&tls.Config{RootCAs: roots}); status.Code(err) != codes.Unavailable {
		t.Errorf("without a client certificate: %v, want Unavailable", err)
	}
}

// TestExample builds ./example and runs it against the suite's server.
func TestExample(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "example")
	if out, err := exec.Command("go", "build", "-o", bin, "./example").CombinedOutput(); err != nil {
		t.Fatalf("go build ./example: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, addr).CombinedOutput()
	if err != nil {
		t.Fatalf("example: %v\n%s", err, out)
	}
	// The trace id the example sent is the one the service answered with.
	traced := false
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 5 && f[0] == "trace" && f[1] == "sent" {
			traced = len(f[2]) == 32 && f[2] == f[4]
		}
	}
	if !traced {
		t.Errorf("example output lacks a trace id answered as sent:\n%s", out)
	}
	for _, want := range []string{
		"rejected: InvalidArgument",
		"  company.business_number: ",
		"missing: NotFound reason RESOURCE_NOT_FOUND",
		"deleted programs/",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("example output lacks %q:\n%s", want, out)
		}
	}
}
