package server

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// applyMask copies the fields named by mask from src to dst. updatable
// lists the top-level fields that may be named; a message field among them
// may also be named by sub-field ("settings.language"). An empty mask means
// every updatable field. The field names come back normalised, so callers
// can tell what changed.
func applyMask(dst, src proto.Message, mask *fieldmaskpb.FieldMask, updatable []string) ([]string, error) {
	paths := mask.GetPaths()
	if len(paths) == 0 {
		paths = updatable
	}
	src = proto.Clone(src) // dst must not alias src's lists and messages
	var done []string
	for _, p := range paths {
		p = strings.TrimSpace(p)
		top, sub, nested := strings.Cut(p, ".")
		ok := false
		for _, u := range updatable {
			if u == top {
				ok = true
			}
		}
		if !ok || p == "" {
			return nil, invalid("update_mask", "field %q cannot be updated (updatable: %s)", p, strings.Join(updatable, ", "))
		}
		d, s := dst.ProtoReflect(), src.ProtoReflect()
		fd := d.Descriptor().Fields().ByName(protoreflect.Name(top))
		if fd == nil {
			return nil, invalid("update_mask", "unknown field %q", p)
		}
		if nested {
			if fd.Message() == nil || fd.IsList() || fd.IsMap() || strings.Contains(sub, ".") {
				return nil, invalid("update_mask", "unknown field %q", p)
			}
			sfd := fd.Message().Fields().ByName(protoreflect.Name(sub))
			if sfd == nil {
				return nil, invalid("update_mask", "unknown field %q", p)
			}
			dm := d.Mutable(fd).Message()
			if s.Has(fd) && s.Get(fd).Message().Has(sfd) {
				dm.Set(sfd, s.Get(fd).Message().Get(sfd))
			} else {
				dm.Clear(sfd)
			}
		} else if s.Has(fd) {
			d.Set(fd, s.Get(fd))
		} else {
			d.Clear(fd)
		}
		done = append(done, p)
	}
	return done, nil
}

// touched reports whether field (or any sub-field of it) is among paths.
func touched(paths []string, field string) bool {
	for _, p := range paths {
		if p == field || strings.HasPrefix(p, field+".") || strings.HasPrefix(field, p+".") {
			return true
		}
	}
	return false
}
