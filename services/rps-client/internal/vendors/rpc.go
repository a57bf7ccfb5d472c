package vendors

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/xmlrpc"
)

// XMLRPC posts an XML-RPC call to endpoint with HTTP Basic credentials and
// returns the decoded result. 401/403 are bad credentials; other non-200
// statuses are refusals; an undecodable body is transient (a proxy's error
// page is the usual cause). A fault is returned as a *xmlrpc.Fault for the
// vendor code to interpret.
func (t *Transport) XMLRPC(ctx context.Context, op, endpoint, user, pass, method string, params ...any) (any, error) {
	body, err := xmlrpc.EncodeCall(method, params...)
	if err != nil {
		return nil, t.Fail(op, ReasonRejected, "encoding "+method, err)
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, nil)
	if err != nil {
		return nil, t.Fail(op, ReasonRejected, "bad base URL", nil)
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("Accept", "text/xml")
	req.SetBasicAuth(user, pass)
	resp, err := t.Do(ctx, op, req, body)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		return nil, t.Fail(op, ReasonBadCreds, fmt.Sprintf("%s: HTTP %d", method, resp.Status), nil)
	case resp.Status != http.StatusOK:
		return nil, t.Fail(op, ReasonRejected, fmt.Sprintf("%s: HTTP %d", method, resp.Status), nil)
	}
	v, err := xmlrpc.DecodeResponse(resp.Body)
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		return nil, f
	}
	if err != nil {
		return nil, t.Fail(op, ReasonTransient, method+": undecodable response", err)
	}
	return v, nil
}

// RPCResult calls XMLRPC and decodes the [boolean, text] answer.
func (t *Transport) RPCResult(ctx context.Context, op, endpoint, user, pass, method string, params ...any) (bool, string, error) {
	v, err := t.XMLRPC(ctx, op, endpoint, user, pass, method, params...)
	if err != nil {
		var f *xmlrpc.Fault
		if errors.As(err, &f) {
			return false, "", t.Fail(op, ReasonRejected, fmt.Sprintf("%s: fault %d: %s", method, f.Code, f.Message), nil)
		}
		return false, "", err
	}
	ok, text, err := xmlrpc.Result(v)
	if err != nil {
		return false, "", t.Fail(op, ReasonTransient, method+": unexpected answer", err)
	}
	return ok, text, nil
}
