package suite

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
)

// primaryAddress returns the IPv4 address of the interface that holds the
// default route (from /proc/net/route), falling back to the first up,
// non-loopback interface with an IPv4 address, then to 127.0.0.1.
func primaryAddress() string {
	if name := defaultRouteInterface("/proc/net/route"); name != "" {
		if ip := interfaceIPv4(name); ip != "" {
			return ip
		}
	}
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		if ip := interfaceIPv4(ifc.Name); ip != "" {
			return ip
		}
	}
	return "127.0.0.1"
}

func defaultRouteInterface(routeFile string) string {
	f, err := os.Open(routeFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Iface Destination Gateway Flags ... ; destination 00000000 is the default route.
		if len(fields) > 2 && fields[1] == "00000000" {
			if _, err := hex.DecodeString(fields[2]); err == nil {
				return fields[0]
			}
		}
	}
	return ""
}

func interfaceIPv4(name string) string {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return ""
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return ""
}

// baseURL builds scheme://host[:port] for a listen address, leaving out the
// scheme's default port.
func baseURL(scheme, host, listenAddr string) (string, error) {
	_, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listenAddr, err)
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + hostForURL(host), nil
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

func hostForURL(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}
