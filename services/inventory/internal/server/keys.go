package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/backup"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/sealstore"
)

// sealer is the store's sealing layer; nil when the store has none.
func (s *Server) sealer() *sealstore.Store {
	if w, ok := s.st.(interface{ Sealer() *sealstore.Store }); ok {
		return w.Sealer()
	}
	return nil
}

// rawStore is the store as stored: secrets sealed. Backups copy it.
func (s *Server) rawStore() store.Store {
	if sl := s.sealer(); sl != nil {
		return sl.Inner()
	}
	return s.st
}

// siteAdmin authorizes an admin bound to no tenant: keys and backups
// span every tenant.
func siteAdmin(ctx context.Context, what string) (caller, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return c, err
	}
	if c.Tenant != "" {
		return c, status.Errorf(codes.PermissionDenied, "a tenant-scoped principal cannot %s", what)
	}
	return c, nil
}

// RotateKeys implements inventoryv1.InventoryServiceServer.
func (s *Server) RotateKeys(ctx context.Context, _ *inventoryv1.RotateKeysRequest) (*inventoryv1.RotateKeysResponse, error) {
	c, err := siteAdmin(ctx, "rotate keys")
	if err != nil {
		return nil, err
	}
	sl := s.sealer()
	if sl == nil || sl.Mode() != sealstore.ModeSealed {
		return nil, status.Error(codes.FailedPrecondition, "secrets are not sealed at rest: start inventory with --kek-file")
	}
	res, err := sl.Rotate(ctx)
	if err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable) {
			return nil, storeErr(err, "data key")
		}
		// Key ids and file names only: safe to show.
		return nil, status.Errorf(codes.FailedPrecondition, "rotate keys: %v", err)
	}
	s.log.Info("keys rotated", "data_key", res.DataKeyID, "kek", res.KEKID, "rewrapped", res.Rewrapped, "resealed", res.Resealed, "principal", c.Name)
	return &inventoryv1.RotateKeysResponse{
		DataKeyId: res.DataKeyID, KekId: res.KEKID,
		RewrappedDataKeys: int32(res.Rewrapped), ResealedRecords: int32(res.Resealed),
	}, nil
}

// chunkWriter sends what is written as ExportBackupResponses of at most 256 KiB.
type chunkWriter struct {
	send func(*inventoryv1.ExportBackupResponse) error
}

func (w chunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		m := min(len(p), 256<<10)
		if err := w.send(&inventoryv1.ExportBackupResponse{Data: p[:m]}); err != nil {
			return n, err
		}
		n += m
		p = p[m:]
	}
	return n, nil
}

// ExportBackup implements inventoryv1.InventoryServiceServer.
func (s *Server) ExportBackup(_ *inventoryv1.ExportBackupRequest, stream grpc.ServerStreamingServer[inventoryv1.ExportBackupResponse]) error {
	ctx := stream.Context()
	c, err := siteAdmin(ctx, "export a backup")
	if err != nil {
		return err
	}
	// The whole file is built before the first chunk goes out, so a
	// failure never leaves the client with a file that looks complete.
	var buf bytes.Buffer
	h, err := backup.Export(ctx, s.rawStore(), &buf, s.now())
	if err != nil {
		return storeErr(err, "backup")
	}
	if _, err := (chunkWriter{stream.Send}).Write(buf.Bytes()); err != nil {
		return err
	}
	s.log.Info("backup exported", "summary", h.Summary(), "bytes", buf.Len(), "principal", c.Name)
	return nil
}

// ImportBackup implements inventoryv1.InventoryServiceServer.
func (s *Server) ImportBackup(stream grpc.ClientStreamingServer[inventoryv1.ImportBackupRequest, inventoryv1.ImportBackupResponse]) error {
	ctx := stream.Context()
	c, err := siteAdmin(ctx, "import a backup")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for {
		ch, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if int64(buf.Len()+len(ch.GetData())) > backup.MaxBody {
			return status.Error(codes.InvalidArgument, "data: backup larger than the limit")
		}
		buf.Write(ch.GetData())
	}
	counts, err := s.restore(ctx, &buf)
	if err != nil {
		return err
	}
	s.log.Info("backup imported", "records", fmt.Sprint(counts), "principal", c.Name)
	return stream.SendAndClose(&inventoryv1.ImportBackupResponse{Records: counts})
}

// restore checks a backup file whole, then writes it into the (empty) store.
func (s *Server) restore(ctx context.Context, r io.Reader) (map[string]int64, error) {
	h, recs, err := backup.Read(r)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "data: %v", err)
	}
	sl := s.sealer()
	if h.Sealed {
		if sl == nil || sl.Mode() != sealstore.ModeSealed {
			return nil, status.Error(codes.FailedPrecondition, "the backup's secrets are sealed: start inventory with the --kek-file they were sealed with")
		}
		if err := sl.CheckDataKeys(recs); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "%v", err)
		}
	}
	counts, err := backup.Restore(ctx, s.rawStore(), recs)
	if errors.Is(err, backup.ErrNotEmpty) {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	if err != nil {
		return nil, storeErr(err, "backup")
	}
	if sl != nil {
		// Take up the restored data keys; seal what a plaintext backup brought.
		if err := sl.Reload(ctx); err != nil {
			return nil, status.Errorf(codes.Internal, "restored, but: %v", err)
		}
	}
	return counts, nil
}
