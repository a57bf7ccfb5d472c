package pnplistener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/tftpfront"
)

// The TFTP front (--tftp-addr) serves phones that fetch bare file names
// from the TFTP server DHCP names (Cisco 79xx). It is wired here, beside
// the SIP path, and shares its link-layer proof: the phone is the MAC the
// kernel's neighbour table holds for the request's source on a served LAN.

// tftpProbePort is where a probe goes to make the kernel resolve a TFTP
// client it holds no neighbour entry for: UDP discard, which phones ignore.
const tftpProbePort = 9

// startTFTP opens the TFTP socket and serves it until ctx ends. It returns
// once the socket is open (or failed to open).
func (s *Service) startTFTP(ctx context.Context) error {
	front, err := tftpfront.New(tftpfront.Options{
		Logger:       s.log,
		Registerer:   s.deps.Registerer,
		Identify:     s.tftpIdentify,
		URL:          s.tftpURL,
		Client:       s.deps.HTTPClient,
		MaxPerSource: s.cfg.TFTPMaxPerSource,
		MaxTotal:     s.cfg.TFTPMaxTransfers,
		MaxFileSize:  s.cfg.TFTPMaxFileSize,
		FetchTimeout: s.cfg.TFTPFetchTimeout,
		RelayToken:   s.deps.TFTPRelayToken,
	})
	if err != nil {
		return err
	}
	opened := make(chan error, 1)
	// Serve runs on a thread inside the served namespace: pin/tftp opens
	// each transfer's socket from the serving goroutine.
	s.wg.Go(func() {
		err := s.inNetns(func() error {
			conn, err := net.ListenPacket("udp4", s.cfg.TFTPAddr)
			opened <- err
			if err != nil {
				return err
			}
			go func() { <-ctx.Done(); front.Shutdown() }()
			return front.Serve(conn)
		})
		if err != nil && ctx.Err() == nil {
			s.log.Error("tftp front stopped", "error", err)
		}
	})
	if err := <-opened; err != nil {
		return fmt.Errorf("pnp-listener: tftp: %w", err)
	}
	s.log.Info("tftp front serving", "addr", s.cfg.TFTPAddr, "link_assertion", s.deps.TFTPRelayToken != "")
	return nil
}

// tftpIdentify is the link-layer proof for a TFTP request: src must lie in a
// served interface's subnet (on the LAN, not routed), and the phone is the
// MAC of the kernel's neighbour entry for it. The phone ARPed for us to send
// its request, which usually left the entry; else a probe makes the kernel
// resolve it.
func (s *Service) tftpIdentify(ctx context.Context, src netip.Addr) (string, error) {
	arr, ok := s.sock.Route(src)
	if !ok {
		return "", tftpfront.ErrNotLAN
	}
	if mac := s.neighbour(arr.IfIndex, src); mac != "" {
		return mac, nil
	}
	_, _ = s.sock.Reply.WriteTo(keepAlive, net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, tftpProbePort)))
	for _, d := range linkWaits {
		select {
		case <-ctx.Done():
			return "", tftpfront.ErrUnresolved
		case <-time.After(d):
		}
		if mac := s.neighbour(arr.IfIndex, src); mac != "" {
			return mac, nil
		}
	}
	return "", tftpfront.ErrUnresolved
}

// tftpURL is the lookup the NOTIFY path makes: the phone's provisioning
// URL, or "" when it gets nothing (unassigned under --unknown-phones
// nothing).
func (s *Service) tftpURL(ctx context.Context, mac string) (string, error) {
	lctx, cancel := context.WithTimeout(ctx, s.cfg.InventoryTimeout)
	defer cancel()
	resp, err := s.deps.Inventory.GetProvisioningUrl(lctx, &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + mac})
	switch {
	case status.Code(err) == codes.NotFound:
		return "", tftpfront.ErrUnknownPhone
	case err != nil:
		return "", fmt.Errorf("GetProvisioningUrl: %w", errors.New(status.Code(err).String()))
	case resp.GetBootstrap() && s.cfg.UnknownPhones == UnknownNothing:
		return "", nil
	}
	return resp.GetUrl(), nil
}
