package renderer

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func parseCodec(s string) (provisioningv1.Codec, error) { return vocab.ParseCodec(s) }

// toStatus maps errors to gRPC codes at the edge. Messages hold no secret: the
// render path never formats a password into an error.
func toStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// RenderFile implements ConfigRendererService.
func (s *Service) RenderFile(ctx context.Context, req *rendererv1.RenderFileRequest) (*rendererv1.RenderFileResponse, error) {
	if req.GetProfile() == nil {
		return nil, status.Error(codes.InvalidArgument, "profile is required")
	}
	if req.GetFileName() == "" || len(req.GetFileName()) > 255 || strings.ContainsAny(req.GetFileName(), "/\\") {
		return nil, status.Error(codes.NotFound, "file not found")
	}
	resp, err := s.Render(ctx, req.GetProfile(), req.GetFileName())
	return resp, toStatus(err)
}

const maxPage = 1000

// ListModels implements ConfigRendererService. The page token is the offset of
// the next model in catalog order (opaque to clients).
func (s *Service) ListModels(_ context.Context, req *rendererv1.ListModelsRequest) (*rendererv1.ListModelsResponse, error) {
	if v := req.GetVendor(); v != "" && !vocab.IsVendor(v) {
		return nil, status.Errorf(codes.InvalidArgument, "unknown vendor %q", v)
	}
	size := int(req.GetPageSize())
	if size < 0 {
		return nil, status.Error(codes.InvalidArgument, "page_size must not be negative")
	}
	if size == 0 || size > maxPage {
		size = maxPage
	}
	off := 0
	if t := req.GetPageToken(); t != "" {
		raw, err := base64.RawURLEncoding.DecodeString(t)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "o"))
		if err != nil || err2 != nil || n < 0 || !strings.HasPrefix(string(raw), "o") {
			return nil, status.Error(codes.InvalidArgument, "bad page_token")
		}
		off = n
	}
	all := s.Models(req.GetVendor())
	if off > len(all) {
		return nil, status.Error(codes.InvalidArgument, "bad page_token")
	}
	end := min(off+size, len(all))
	resp := &rendererv1.ListModelsResponse{Models: all[off:end]}
	if end < len(all) {
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(end)))
	}
	return resp, nil
}

// GetModel implements ConfigRendererService.
func (s *Service) GetModel(_ context.Context, req *rendererv1.GetModelRequest) (*rendererv1.GetModelResponse, error) {
	rest, ok := strings.CutPrefix(req.GetName(), "vendors/")
	vendor, model, ok2 := strings.Cut(rest, "/models/")
	if !ok || !ok2 || vendor == "" || model == "" {
		return nil, status.Error(codes.InvalidArgument, `name must be "vendors/{vendor}/models/{model}"`)
	}
	m, found := s.Model(vendor, model)
	if !found && req.GetAllowFamilyFallback() {
		m, found = s.LookupModel(vendor, model)
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "model %s not in the catalog", req.GetName())
	}
	return &rendererv1.GetModelResponse{Model: m}, nil
}

// ResolveModel implements ConfigRendererService.
func (s *Service) ResolveModel(_ context.Context, req *rendererv1.ResolveModelRequest) (*rendererv1.ResolveModelResponse, error) {
	if v := req.GetVendor(); v != "" && !vocab.IsVendor(v) {
		return nil, status.Errorf(codes.InvalidArgument, "vendor: unknown vendor %q (known: %s)", truncate(v, 32), strings.Join(vocab.Vendors, ", "))
	}
	if m := req.GetModel(); strings.TrimSpace(m) == "" || len(m) > 64 {
		return nil, status.Error(codes.InvalidArgument, "model: required, at most 64 characters")
	}
	return s.Resolve(req.GetVendor(), req.GetModel()), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// templateSetName is the TemplateSet singleton's resource name.
const templateSetName = "templateSet"

// GetTemplateSet implements ConfigRendererService.
func (s *Service) GetTemplateSet(_ context.Context, req *rendererv1.GetTemplateSetRequest) (*rendererv1.GetTemplateSetResponse, error) {
	if req.GetName() != templateSetName {
		return nil, status.Error(codes.InvalidArgument, `name must be "templateSet"`)
	}
	set := s.set.Load()
	return &rendererv1.GetTemplateSetResponse{TemplateSet: &rendererv1.TemplateSet{
		Name:          templateSetName,
		Version:       set.Version,
		OverrideFiles: slices.Clone(set.Files),
		LoadTime:      timestamppb.New(time.Unix(0, s.loaded.Load())),
		LoadError:     s.LoadError(),
	}}, nil
}

// ListVendors implements ConfigRendererService.
func (s *Service) ListVendors(context.Context, *rendererv1.ListVendorsRequest) (*rendererv1.ListVendorsResponse, error) {
	return &rendererv1.ListVendorsResponse{Vendors: s.Vendors()}, nil
}

// IdentifyDevice implements ConfigRendererService.
func (s *Service) IdentifyDevice(_ context.Context, req *rendererv1.IdentifyDeviceRequest) (*rendererv1.IdentifyDeviceResponse, error) {
	if len(req.GetUserAgent()) > 1024 || len(req.GetMac()) > 64 || len(req.GetPnpVendor()) > 256 || len(req.GetPnpModel()) > 256 {
		return nil, status.Error(codes.InvalidArgument, "request fields too long")
	}
	v, m, ok := s.Identify(req.GetMac(), req.GetUserAgent(), req.GetPnpVendor(), req.GetPnpModel())
	if !ok {
		return nil, status.Error(codes.NotFound, "no vendor matches this device")
	}
	return &rendererv1.IdentifyDeviceResponse{Vendor: v, Model: m}, nil
}
