package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

// ModelResolver is config-renderer's ResolveModel: the catalog decides a
// phone's vendor, model spelling and family (a rendererv1 client is one).
type ModelResolver interface {
	ResolveModel(ctx context.Context, in *rendererv1.ResolveModelRequest, opts ...grpc.CallOption) (*rendererv1.ResolveModelResponse, error)
}

// resolveTimeout bounds one ResolveModel call; past it the model is recorded unchecked.
const resolveTimeout = 3 * time.Second

var vendorNames = map[string]string{
	vocab.Yealink: "Yealink", vocab.Fanvil: "Fanvil", vocab.Grandstream: "Grandstream", vocab.Snom: "Snom",
	vocab.Gigaset: "Gigaset", vocab.Htek: "Htek", vocab.Poly: "Poly", vocab.Cisco: "Cisco",
}

// checkModel validates and normalises model, vendor and firmware, in the
// suite's order: a catalog model names its vendor; else the vendor given (by
// the operator or the phone's SUBSCRIBE); else the MAC's IEEE block. It
// records model_status, model_family and model_warning. strict (an
// operator's request) refuses a model of a known vendor that neither the
// catalog nor a family pattern knows; a discovered phone is recorded with
// status UNKNOWN and a warning instead.
func (s *Server) checkModel(ctx context.Context, p *inventoryv1.Phone, strict bool) error {
	p.Model = strings.TrimSpace(p.GetModel())
	if p.GetModel() == "" {
		return invalid("phone.model", "required")
	}
	if err := checkText("phone.model", p.GetModel(), maxModel); err != nil {
		return err
	}
	if err := checkText("phone.firmware", p.GetFirmware(), maxFirmware); err != nil {
		return err
	}
	p.Vendor = strings.ToLower(strings.TrimSpace(p.GetVendor()))
	if p.GetVendor() != "" && !vocab.IsVendor(p.GetVendor()) {
		return invalid("phone.vendor", "unknown vendor %q: use one of %s, or leave it empty to take it from the model or the MAC",
			truncate(p.GetVendor(), 32), strings.Join(vocab.Vendors, ", "))
	}
	given := p.GetVendor()
	oui := vendorByOUI(p.GetMac())
	hint := given
	if hint == "" {
		hint = oui
	}
	p.ModelStatus, p.ModelFamily, p.ModelWarning = rendererv1.ModelStatus_MODEL_STATUS_UNSPECIFIED, "", ""
	if s.models == nil {
		p.Vendor = hint
		if p.GetVendor() == "" {
			return invalid("phone.vendor", "required: the MAC's IEEE block is none of the eight vendors'; give the vendor (%s)", strings.Join(vocab.Vendors, ", "))
		}
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	r, err := s.models.ResolveModel(cctx, &rendererv1.ResolveModelRequest{Vendor: hint, Model: p.GetModel()})
	if err != nil {
		// The catalog is advice: without it the phone is recorded as given.
		s.log.Warn("config-renderer did not resolve the model; recorded unchecked", "mac", p.GetMac(), "model", p.GetModel(), "err", status.Code(err))
		p.Vendor = hint
		if p.GetVendor() == "" {
			return status.Errorf(codes.Unavailable, "phone.vendor: the MAC's block names no vendor and config-renderer is unavailable to name it from the model; give the vendor or retry")
		}
		p.ModelWarning = "model not checked: config-renderer unavailable"
		return nil
	}
	if r.GetVendor() == "" {
		return invalid("phone.vendor", "required: neither the model %q nor the MAC's IEEE block names a vendor; give the vendor (%s)",
			truncate(p.GetModel(), 32), strings.Join(vocab.Vendors, ", "))
	}
	p.Vendor, p.ModelStatus, p.ModelFamily = r.GetVendor(), r.GetStatus(), r.GetFamily()
	var warn []string
	switch r.GetStatus() {
	case rendererv1.ModelStatus_MODEL_STATUS_CATALOG, rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK:
		p.Model = r.GetModel()
	}
	if r.GetStatus() == rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK {
		warn = append(warn, fmt.Sprintf("model %s is not in the catalog: provisioned with the %s family's files", p.GetModel(), r.GetFamily()))
	}
	if r.GetStatus() == rendererv1.ModelStatus_MODEL_STATUS_UNKNOWN && r.GetNotProvisionableReason() != "" {
		// A real model that no file configures (Gigaset C610 IP): say why, not "check the spelling".
		if strict {
			return invalid("phone.model", "%s %s is not provisionable by Dialtone: it %s",
				vendorNames[r.GetVendor()], truncate(p.GetModel(), 32), r.GetNotProvisionableReason())
		}
		warn = append(warn, fmt.Sprintf("%s %s is not provisionable by Dialtone: it %s", vendorNames[r.GetVendor()], p.GetModel(), r.GetNotProvisionableReason()))
	} else if r.GetStatus() == rendererv1.ModelStatus_MODEL_STATUS_UNKNOWN {
		if strict {
			return invalid("phone.model", "%q is not a %s model the catalog knows and matches none of its families (%s): check the spelling (dialtonectl models list --vendor %s) or add the model to the catalog",
				truncate(p.GetModel(), 32), vendorNames[r.GetVendor()], strings.Join(r.GetFamilyPatterns(), ", "), r.GetVendor())
		}
		warn = append(warn, fmt.Sprintf("model %s is not in the catalog and matches no %s family: it cannot be provisioned until the catalog knows it", p.GetModel(), vendorNames[r.GetVendor()]))
	}
	// A model of another vendor than the MAC's block: OEM hardware exists, so
	// the model decides, and the operator is told.
	if oui != "" && oui != p.GetVendor() {
		warn = append(warn, fmt.Sprintf("%s is a %s model but the MAC's block is %s's (OEM hardware?)", p.GetModel(), vendorNames[p.GetVendor()], vendorNames[oui]))
	} else if given != "" && given != p.GetVendor() {
		warn = append(warn, fmt.Sprintf("%s is a %s model, not %s: recorded as %s", p.GetModel(), vendorNames[p.GetVendor()], vendorNames[given], p.GetVendor()))
	}
	p.ModelWarning = strings.Join(warn, "; ")
	return nil
}
