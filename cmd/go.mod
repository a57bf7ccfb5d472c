module github.com/dialtone-voip/dialtone/cmd

go 1.26.0

require (
	github.com/dialtone-voip/dialtone/proto v0.0.0
	github.com/dialtone-voip/dialtone/platform v0.0.0
	github.com/dialtone-voip/dialtone/services/pnp-listener v0.0.0
	github.com/dialtone-voip/dialtone/services/inventory v0.0.0
	github.com/dialtone-voip/dialtone/services/config-renderer v0.0.0
	github.com/dialtone-voip/dialtone/services/provision-http v0.0.0
	github.com/dialtone-voip/dialtone/services/rps-client v0.0.0
)

replace (
	github.com/dialtone-voip/dialtone/proto => ../proto
	github.com/dialtone-voip/dialtone/platform => ../platform
	github.com/dialtone-voip/dialtone/services/pnp-listener => ../services/pnp-listener
	github.com/dialtone-voip/dialtone/services/inventory => ../services/inventory
	github.com/dialtone-voip/dialtone/services/config-renderer => ../services/config-renderer
	github.com/dialtone-voip/dialtone/services/provision-http => ../services/provision-http
	github.com/dialtone-voip/dialtone/services/rps-client => ../services/rps-client
)
