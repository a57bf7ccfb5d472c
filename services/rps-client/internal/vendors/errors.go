package vendors

import (
	"errors"
	"fmt"
	"strings"
	"time"

	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
)

// Error is a vendor refusal or failure, typed by Reason. Its text never
// holds a credential or a provisioning URL: clients scrub vendor texts
// (Scrub) before they build one.
type Error struct {
	API    string
	Op     string // "register", "deregister", "check"
	Reason rpsv1.FailureReason
	// Msg is the vendor's own (scrubbed) text or our description.
	Msg string
	// RetryAfter is the delay the vendor asked for (429/503 Retry-After).
	RetryAfter time.Duration
	// Err is an underlying cause (network error, decoding error), if any.
	Err error
	// Cause names a condition operators watch for, beyond Reason (see the
	// Cause* constants); empty for most failures.
	Cause string
}

// Causes that the service counts in their own metrics.
const (
	// CauseClockSkew: the vendor refused our request timestamp (Hawk "Stale
	// timestamp") and its answer did not let us correct our clock. The
	// credentials are not in question: a Hawk server checks the request MAC
	// before the timestamp.
	CauseClockSkew = "clock_skew"
	// CauseRegistrationGap: our old registration was removed (an API without
	// an override flag) and the new one is not in place yet, so the phone has
	// no redirect until a retry succeeds.
	CauseRegistrationGap = "registration_gap"
)

// CauseOf returns the Cause of the *Error in err's chain, or "".
func CauseOf(err error) string {
	var ve *Error
	if errors.As(err, &ve) {
		return ve.Cause
	}
	return ""
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.API)
	b.WriteString(" ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(ReasonText(e.Reason))
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether retrying later may succeed.
func (e *Error) Transient() bool { return e.Reason == rpsv1.FailureReason_FAILURE_REASON_TRANSIENT }

// ReasonText is a short human label for a reason.
func ReasonText(r rpsv1.FailureReason) string {
	switch r {
	case rpsv1.FailureReason_FAILURE_REASON_OWNED_BY_OTHER_ACCOUNT:
		return "MAC owned by another account"
	case rpsv1.FailureReason_FAILURE_REASON_INVALID_MAC:
		return "invalid MAC"
	case rpsv1.FailureReason_FAILURE_REASON_BAD_CREDENTIALS:
		return "bad credentials"
	case rpsv1.FailureReason_FAILURE_REASON_NO_ACCOUNT:
		return "no account configured"
	case rpsv1.FailureReason_FAILURE_REASON_UNSUPPORTED_VENDOR:
		return "unsupported vendor"
	case rpsv1.FailureReason_FAILURE_REASON_REJECTED:
		return "rejected"
	case rpsv1.FailureReason_FAILURE_REASON_TRANSIENT:
		return "temporary failure"
	}
	return "failed"
}

// Reason is a failure reason.
type Reason = rpsv1.FailureReason

// Short names for the reasons, used by the vendor packages.
const (
	ReasonOwned       = rpsv1.FailureReason_FAILURE_REASON_OWNED_BY_OTHER_ACCOUNT
	ReasonInvalidMAC  = rpsv1.FailureReason_FAILURE_REASON_INVALID_MAC
	ReasonBadCreds    = rpsv1.FailureReason_FAILURE_REASON_BAD_CREDENTIALS
	ReasonNoAccount   = rpsv1.FailureReason_FAILURE_REASON_NO_ACCOUNT
	ReasonUnsupported = rpsv1.FailureReason_FAILURE_REASON_UNSUPPORTED_VENDOR
	ReasonRejected    = rpsv1.FailureReason_FAILURE_REASON_REJECTED
	ReasonTransient   = rpsv1.FailureReason_FAILURE_REASON_TRANSIENT
)

// ReasonOf returns the failure reason of err: the Reason of a *Error in its
// chain, TRANSIENT for anything else (an unknown failure is worth a retry).
func ReasonOf(err error) rpsv1.FailureReason {
	if err == nil {
		return rpsv1.FailureReason_FAILURE_REASON_UNSPECIFIED
	}
	var ve *Error
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return rpsv1.FailureReason_FAILURE_REASON_TRANSIENT
}

// RetryAfterOf returns the vendor's requested delay in err's chain, or 0.
func RetryAfterOf(err error) time.Duration {
	var ve *Error
	if errors.As(err, &ve) {
		return ve.RetryAfter
	}
	return 0
}

// Scrub replaces every occurrence of each non-empty secret in text with
// "[redacted]" and bounds the text's length, so that a vendor echoing our
// URL ("url_invalid:<url>") or a password cannot leak it into a status,
// event or log line.
func Scrub(text string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	text = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' {
			return ' '
		}
		return r
	}, text)
	text = strings.TrimSpace(text)
	const max = 200
	if len(text) > max {
		cut := max
		for cut > 0 && (text[cut]&0xC0) == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		text = text[:cut] + "…"
	}
	return text
}
