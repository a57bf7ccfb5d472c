module github.com/dialtone-voip/dialtone/services/provision-http

go 1.26.0

require (
	github.com/dialtone-voip/dialtone/proto v0.0.0
	github.com/dialtone-voip/dialtone/platform v0.0.0
)

replace (
	github.com/dialtone-voip/dialtone/proto => ../../proto
	github.com/dialtone-voip/dialtone/platform => ../../platform
)
