package rpsclient

import (
	"github.com/redis/go-redis/v9"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store/boltstore"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store/redisstore"
)

// Store is rps-client's state (intents, records, the retry schedule,
// per-MAC locks); build one with NewRedisStore or OpenBoltStore and pass it
// as Deps.Store. The process that built it closes it after the service
// stopped.
type Store = store.Store

// OpenBoltStore opens (or creates) the embedded bbolt store at path. It is
// for one process only (the one-process dialtone): bbolt locks the file and
// the per-MAC locks live in memory, so replicas must share a Redis store.
func OpenBoltStore(path string) (Store, error) { return boltstore.Open(path) }

// NewRedisStore returns a store over c with keys under prefix (Config's
// RedisPrefix, "dialtone:rps:" by default). Closing it leaves c open.
func NewRedisStore(c redis.UniversalClient, prefix string) Store {
	return redisstore.New(c, prefix)
}
