package provisionhttp

import (
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// outSealed labels requests refused because inventory holds the phones'
// secrets sealed at rest and runs without the key to open them (no
// --kek-file): a 503, never a file without its account.
const outSealed = "secrets_sealed"

// sealedMsg is part of inventory's Unavailable message in that case
// (services/inventory internal/server storeErr, store.ErrSealed).
const sealedMsg = "secrets are sealed at rest"

func isSealed(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Unavailable && strings.Contains(st.Message(), sealedMsg)
}

// sealed answers 503 with Retry-After and counts the request under
// outcome "secrets_sealed" (dialtone_provision_http_requests_total).
func (s *Service) sealed(q *request) string {
	s.log.Error("inventory cannot open the phones' secrets (no --kek-file): refusing to serve a file without its account")
	q.w.Header().Set("Retry-After", "60")
	writeText(q.w, q.r, http.StatusServiceUnavailable, unavailBody)
	return outSealed
}
