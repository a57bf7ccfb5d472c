package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSNode configures one member of the JetStream cluster, run by
// `dialtone-cluster nats-node` (the embedded nats-server/v2, so no
// nats-server binary of unknown version is needed).
type NATSNode struct {
	Name        string
	Host        string
	Port        int // client port
	ClusterPort int // route port
	HTTPPort    int // monitoring (/varz, /jsz)
	Routes      []string
	StoreDir    string
	ClusterName string
}

// RunNATSNode runs the node until ctx ends. Its log goes to stderr.
func RunNATSNode(ctx context.Context, n NATSNode) error {
	var routes []*url.URL
	for _, r := range n.Routes {
		u, err := url.Parse(r)
		if err != nil {
			return fmt.Errorf("route %q: %w", r, err)
		}
		routes = append(routes, u)
	}
	opts := &server.Options{
		ServerName: n.Name,
		Host:       n.Host,
		Port:       n.Port,
		HTTPHost:   n.Host,
		HTTPPort:   n.HTTPPort,
		JetStream:  true,
		StoreDir:   n.StoreDir,
		NoSigs:     true,
		Cluster: server.ClusterOpts{
			Name: n.ClusterName,
			Host: n.Host,
			Port: n.ClusterPort,
		},
		Routes: routes,
		// Fast failure detection on one machine; the defaults (2m ping)
		// are made for real networks.
		PingInterval: 2 * time.Second,
		MaxPingsOut:  2,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return err
	}
	srv.ConfigureLogger()
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return errors.New("nats node not ready after 30s")
	}
	<-ctx.Done()
	srv.Shutdown()
	srv.WaitForShutdown()
	return nil
}

// natsNodeArgs are the dialtone-cluster arguments that run n.
func natsNodeArgs(n NATSNode) []string {
	args := []string{"nats-node", "--name", n.Name, "--host", n.Host,
		"--port", strconv.Itoa(n.Port), "--cluster-port", strconv.Itoa(n.ClusterPort),
		"--http-port", strconv.Itoa(n.HTTPPort), "--store-dir", n.StoreDir, "--cluster-name", n.ClusterName}
	for _, r := range n.Routes {
		args = append(args, "--route", r)
	}
	return args
}
