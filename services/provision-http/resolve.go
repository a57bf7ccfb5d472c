package provisionhttp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
)

// tokenEntry is the result of resolving one token. Unknown tokens get an
// entry too (valid false, the decoy profile), cached the same way, so a
// second request for an unknown token is exactly as fast as one for a known.
type tokenEntry struct {
	hash          [32]byte // SHA-256 of the token
	valid         bool
	profile       *provisioningv1.ProvisioningProfile
	key           [32]byte // SHA-256 of the profile: keys its rendered files
	httpsRequired bool
}

type fileKey struct {
	profile [32]byte
	file    string
}

// fileEntry is one rendered file, or the renderer's refusal to render it.
type fileEntry struct {
	found       bool
	invalid     bool // the profile cannot be expressed for the model
	content     []byte
	contentType string
	etag        string
	secrets     bool
	// Header values, built once: the handler assigns them without allocating.
	hdrType, hdrETag, hdrLength []string
}

type modelEntry struct {
	model *rendererv1.Model // nil: not in the catalog
}

// graceTTL bounds how long a token in its rotation grace period is cached:
// its end is not announced by any event.
const graceTTL = 10 * time.Second

func (s *Service) upstreamCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	// Detached from the request: a singleflight call serves every waiter,
	// so the first phone hanging up must not cancel it for the others.
	return context.WithTimeout(context.WithoutCancel(ctx), s.cfg.UpstreamTimeout)
}

func (s *Service) countCall(method string, err error) {
	s.met.upstream.WithLabelValues(method, status.Code(err).String()).Inc()
}

// lookupToken resolves a token. admitted is false when the source is
// blocked, the token was not seen valid lately and the shared budget for
// such look-ups is spent: then nothing is asked.
func (s *Service) lookupToken(ctx context.Context, now time.Time, token string, sum [32]byte, blocked bool) (te *tokenEntry, admitted bool, err error) {
	if e, ok := s.tokens.GetAt(sum, now); ok && subtle.ConstantTimeCompare(e.hash[:], sum[:]) == 1 {
		s.met.tokenHit.Inc()
		return e, true, nil
	}
	s.met.tokenMiss.Inc()
	if blocked && !s.known.Contains(sum) && (s.cfg.ThrottledLookupRate == 0 || !s.budget.Allow()) {
		return nil, false, nil
	}
	v, err, _ := s.sf.Do("t"+string(sum[:]), func() (any, error) {
		since := s.gen.start()
		cctx, cancel := s.upstreamCtx(ctx)
		defer cancel()
		resp, err := s.inv.GetProvisioningProfile(cctx, &inventoryv1.GetProvisioningProfileRequest{Token: token})
		s.countCall("GetProvisioningProfile", err)
		e := &tokenEntry{hash: sum, profile: s.decoy.profile, key: s.decoy.key}
		ttl := s.cfg.CacheTTL
		switch status.Code(err) {
		case codes.OK:
			if err := checkProfile(resp); err != nil {
				return nil, err
			}
			e.valid = true
			e.profile = resp.GetProfile()
			e.key = profileKey(e.profile)
			e.httpsRequired = resp.GetHttpsRequired()
			if resp.GetGrace() {
				ttl = min(ttl, graceTTL)
			}
			s.known.Add(sum, struct{}{}, "", 1, 0)
		case codes.NotFound, codes.InvalidArgument:
			s.known.Remove(sum)
		default:
			// Only the code: a message could echo what was sent.
			return nil, fmt.Errorf("GetProvisioningProfile: %s", status.Code(err))
		}
		tag := ""
		if e.valid {
			tag = e.profile.GetMac()
		}
		addFresh(s.gen, s.tokens, since, sum, e, tag, 1, ttl)
		return e, nil
	})
	if err != nil {
		return nil, true, err
	}
	return v.(*tokenEntry), true, nil
}

func checkProfile(resp *inventoryv1.GetProvisioningProfileResponse) error {
	p := resp.GetProfile()
	if p == nil {
		return errors.New("GetProvisioningProfile: response without profile")
	}
	if mac, err := macaddr.Parse(p.GetMac()); err != nil || mac != p.GetMac() {
		return errors.New("GetProvisioningProfile: profile MAC is not canonical")
	}
	return nil
}

type modelKey struct{ vendor, model string }

func (s *Service) lookupModel(ctx context.Context, now time.Time, vendor, model string) (*rendererv1.Model, error) {
	k := modelKey{vendor, model}
	if e, ok := s.models.GetAt(k, now); ok {
		s.met.modelHit.Inc()
		return e.model, nil
	}
	s.met.modelMiss.Inc()
	name := "vendors/" + vendor + "/models/" + model
	v, err, _ := s.sf.Do("m"+name, func() (any, error) {
		since := s.gen.start()
		cctx, cancel := s.upstreamCtx(ctx)
		defer cancel()
		// A model the catalog does not list gets its family (what RenderFile renders),
		// so its User-Agent is checked like a listed model's.
		resp, err := s.rnd.GetModel(cctx, &rendererv1.GetModelRequest{Name: name, AllowFamilyFallback: true})
		s.countCall("GetModel", err)
		e := &modelEntry{}
		switch status.Code(err) {
		case codes.OK:
			e.model = resp.GetModel()
		case codes.NotFound, codes.InvalidArgument:
		default:
			return nil, fmt.Errorf("GetModel: %s", status.Code(err))
		}
		addFresh(s.gen, s.models, since, k, e, "", 1, 0)
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*modelEntry).model, nil
}

func (s *Service) render(ctx context.Context, now time.Time, te *tokenEntry, file string) (*fileEntry, error) {
	k := fileKey{profile: te.key, file: file}
	if e, ok := s.files.GetAt(k, now); ok {
		s.met.fileHit.Inc()
		return e, nil
	}
	s.met.fileMiss.Inc()
	v, err, _ := s.sf.Do("f"+string(te.key[:])+file, func() (any, error) {
		since := s.gen.start()
		cctx, cancel := s.upstreamCtx(ctx)
		defer cancel()
		resp, err := s.rnd.RenderFile(cctx, &rendererv1.RenderFileRequest{Profile: te.profile, FileName: file})
		s.countCall("RenderFile", err)
		e := &fileEntry{}
		switch status.Code(err) {
		case codes.OK:
			e.found = true
			e.content = resp.GetContent()
			e.contentType = resp.GetContentType()
			if e.contentType == "" {
				e.contentType = "application/octet-stream"
			}
			e.etag = resp.GetEtag()
			if !validETag(e.etag) {
				sum := sha256.Sum256(e.content)
				e.etag = `"` + hex.EncodeToString(sum[:16]) + `"`
			}
			e.secrets = resp.GetContainsSecrets()
			e.hdrType, e.hdrETag, e.hdrLength = []string{e.contentType}, []string{e.etag}, []string{strconv.Itoa(len(e.content))}
		case codes.NotFound:
		case codes.InvalidArgument, codes.FailedPrecondition:
			e.invalid = true
		default:
			return nil, fmt.Errorf("RenderFile: %s", status.Code(err))
		}
		addFresh(s.gen, s.files, since, k, e, te.profile.GetMac(), int64(len(e.content)+len(file)+256), 0)
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*fileEntry), nil
}

// validETag accepts a strong entity tag: a quoted string of visible ASCII
// other than '"' (RFC 9110 8.8.3).
func validETag(t string) bool {
	if len(t) < 2 || len(t) > 128 || t[0] != '"' || t[len(t)-1] != '"' {
		return false
	}
	for i := 1; i < len(t)-1; i++ {
		if c := t[i]; c < 0x21 || c == '"' || c > 0x7e {
			return false
		}
	}
	return true
}

// invalidate drops every cached look-up, file and release grant of one
// phone; look-ups of that phone in flight do not cache their answers.
func (s *Service) invalidate(mac string) {
	s.gen.bump(mac)
	s.grantGen.bump(mac)
	n := s.tokens.RemoveTag(mac) + s.files.RemoveTag(mac) + s.grants.RemoveTag(mac)
	s.met.invalidations.Inc()
	s.met.phoneChanges.WithLabelValues(actionInvalidate).Inc()
	s.log.Debug("cache invalidated", "mac", mac, "entries", n)
}

// watchTemplates checks the renderer's template set every
// Config.TemplatePoll until ctx ends.
func (s *Service) watchTemplates(ctx context.Context) {
	t := time.NewTicker(s.cfg.TemplatePoll)
	defer t.Stop()
	for {
		s.checkTemplates(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkTemplates asks the renderer for its template set version and, when
// it changed since the last answer, drops every cached file and model, so
// an operator's template change reaches the next fetch instead of waiting
// out --cache-ttl. Renders in flight do not insert (generations.bumpAll).
func (s *Service) checkTemplates(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.UpstreamTimeout)
	defer cancel()
	resp, err := s.rnd.GetTemplateSet(cctx, &rendererv1.GetTemplateSetRequest{Name: "templateSet"})
	s.countCall("GetTemplateSet", err)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Debug("template set check failed", "code", status.Code(err).String())
		}
		return
	}
	v := resp.GetTemplateSet().GetVersion()
	if v == "" {
		return
	}
	old := s.tmpl.Swap(&v)
	if old == nil || *old == v {
		return
	}
	s.gen.bumpAll()
	s.files.Purge()
	s.models.Purge()
	s.met.templateSets.Inc()
	s.log.Info("renderer template set changed; cached files and models dropped", "from", *old, "to", v)
}

// invalidateAll drops every cached look-up and file.
func (s *Service) invalidateAll() {
	s.gen.bumpAll()
	s.grantGen.bumpAll()
	s.tokens.Purge()
	s.files.Purge()
	s.grants.Purge()
	s.met.invalidations.Inc()
}

// authorizeRelease asks inventory whether this fetch may have the file's
// secrets (AuthorizeSecretRelease). An allowed (token, certificate, proof,
// source address) is remembered until the phone changes (PhoneChanged
// drops it on a release or discovery change, tag = MAC) or CacheTTL
// passes, so a phone's fallback chain of files costs one call. The proof and
// the source address are in the key too, as defence in depth: a grant made
// to the host that fetched is not one to another host holding the token
// before inventory has heard of that host. Refusals
// are never cached: inventory records each (bounded per identity and
// minute) and an approval must take effect at once.
func (s *Service) authorizeRelease(ctx context.Context, q *request, te *tokenEntry, proof inventoryv1.FetchProof, dc deviceCert) (bool, error) {
	h := sha256.New()
	h.Write(te.hash[:])
	h.Write([]byte(dc.sha256))
	addr := q.src.Addr().Unmap().As16()
	h.Write(addr[:])
	// The proof too: a grant for a link-proved fetch is no grant for the
	// token alone (inventory's identities differ).
	h.Write([]byte{byte(proof)})
	var key [32]byte
	h.Sum(key[:0])
	if s.grants.Contains(key) {
		return true, nil
	}
	since := s.grantGen.start()
	cctx, cancel := s.upstreamCtx(ctx)
	defer cancel()
	resp, err := s.inv.AuthorizeSecretRelease(cctx, &inventoryv1.AuthorizeSecretReleaseRequest{
		Token: q.rt.Token, Proof: proof, CertificateSha256: dc.sha256, CertificateSubject: dc.subject,
		SourceAddress: q.source(), UserAgent: strings.ToValidUTF8(truncate(q.r.UserAgent(), maxUserAgent), "\uFFFD"),
		FileName: q.rt.File,
	})
	s.countCall("AuthorizeSecretRelease", err)
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound:
		return false, nil // the token stopped working since it was resolved
	default:
		return false, fmt.Errorf("AuthorizeSecretRelease: %s", status.Code(err))
	}
	if !resp.GetAllowed() {
		s.log.Warn("secret release refused", "mac", te.profile.GetMac(), "file", q.rt.File,
			"reason", resp.GetReason(), "identity", resp.GetIdentity(), "source", q.source())
		return false, nil
	}
	addFresh(s.grantGen, s.grants, since, key, struct{}{}, te.profile.GetMac(), 1, 0)
	return true, nil
}
