module github.com/dialtone-voip/dialtone/cmd

go 1.26.0

require (
	github.com/chromedp/chromedp v0.23.1
	github.com/dialtone-voip/dialtone/platform v0.0.0
	github.com/dialtone-voip/dialtone/proto v0.0.0
	github.com/dialtone-voip/dialtone/services/config-renderer v0.0.0
	github.com/dialtone-voip/dialtone/services/console v0.0.0
	github.com/dialtone-voip/dialtone/services/inventory v0.0.0
	github.com/dialtone-voip/dialtone/services/pnp-listener v0.0.0
	github.com/dialtone-voip/dialtone/services/provision-http v0.0.0
	github.com/dialtone-voip/dialtone/services/rps-client v0.0.0
	github.com/google/go-containerregistry v0.22.1
	github.com/nats-io/nats-server/v2 v2.15.2
	github.com/nats-io/nats.go v1.55.0
	github.com/prometheus/client_golang v1.25.0
	github.com/redis/go-redis/v9 v9.23.0
	golang.org/x/net v0.62.0
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require github.com/pin/tftp/v3 v3.1.0

require (
	github.com/antithesishq/antithesis-sdk-go v0.8.0-default-no-op // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/chromedp/cdproto v0.160.1 // indirect
	github.com/docker/cli v29.7.2+incompatible // indirect
	github.com/docker/docker-credential-helpers v0.9.3 // indirect
	github.com/emiago/sipgo v1.7.3
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/pool v0.2.1 // indirect
	github.com/gobwas/ws v1.3.2 // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/icholy/digest v1.2.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/nats-io/jwt/v2 v2.8.2 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/sirupsen/logrus v1.9.4 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/crypto/x509roots/fallback v0.0.0-20261030153154-30a33513ff6d // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.50.0
	golang.org/x/text v0.43.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)

replace (
	github.com/dialtone-voip/dialtone/platform => ../platform
	github.com/dialtone-voip/dialtone/proto => ../proto
	github.com/dialtone-voip/dialtone/services/config-renderer => ../services/config-renderer
	github.com/dialtone-voip/dialtone/services/console => ../services/console
	github.com/dialtone-voip/dialtone/services/inventory => ../services/inventory
	github.com/dialtone-voip/dialtone/services/pnp-listener => ../services/pnp-listener
	github.com/dialtone-voip/dialtone/services/provision-http => ../services/provision-http
	github.com/dialtone-voip/dialtone/services/rps-client => ../services/rps-client
)
