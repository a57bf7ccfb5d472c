// Package tftptest fetches files by TFTP from inside a test host's network
// namespace (platform/testenv/lantest), as a phone on the LAN does, for the
// end-to-end tests of the TFTP front (cmd/e2e, cmd/e2e/pnplan).
package tftptest

import (
	"bytes"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/dialtone-voip/dialtone/platform/testenv/lantest"
)

// Get fetches name (octet mode; one second a try, three retries) from the
// TFTP server at server (host:port), its socket made in h's namespace. The
// transfer's error is returned (a test may expect one); failing to enter
// the namespace fails the test.
func Get(t testing.TB, h *lantest.Host, server, name string) (string, error) {
	t.Helper()
	var out string
	var getErr error
	if err := h.Run(func() error {
		c, err := tftp.NewClient(server)
		if err != nil {
			return err
		}
		c.SetTimeout(time.Second)
		c.SetRetries(3)
		wt, err := c.Receive(name, "octet")
		if err != nil {
			getErr = err
			return nil
		}
		var b bytes.Buffer
		_, getErr = wt.WriteTo(&b)
		out = b.String()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out, getErr
}
