package sraps

import (
	"strings"
	"testing"
)

func TestNextLink(t *testing.T) {
	cases := map[string][]string{
		"https://h/api/v1/settings/?page=2": {`<https://h/api/v1/settings/?page=2>; rel="next", <https://h/api/v1/settings/?page=9>; rel="last"`},
		"/s/?page=3":                        {`<https://h/prev>; rel="prev"`, `</s/?page=3>; rel=next`},
		"":                                  {`<https://h/x>; rel="last"`, `garbage`, ``},
	}
	for want, headers := range cases {
		if got := nextLink(headers); got != want {
			t.Errorf("nextLink(%q) = %q, want %q", headers, got, want)
		}
	}
}

func TestAPIError(t *testing.T) {
	for body, want := range map[string]string{
		`{"message":"taken_mac_or_forbidden"}`:           "taken_mac_or_forbidden",
		`{"detail":"User lacks permission to endpoint"}`: "User lacks permission to endpoint",
		`"plain"`:        "plain",
		`<html>x</html>`: "<html>x</html>",
	} {
		if got := apiError([]byte(body)); got != want {
			t.Errorf("apiError(%s) = %q", body, got)
		}
	}
}

func FuzzNextLink(f *testing.F) {
	f.Add(`<https://h/api/v1/settings/?page=2>; rel="next", <https://h/x>; rel="last"`)
	f.Add(`</s/?page=3>; rel=next; title="x"`)
	f.Fuzz(func(t *testing.T, h string) {
		got := nextLink([]string{h})
		if got != "" && !strings.Contains(h, got) {
			t.Fatalf("next %q is not part of the header", got)
		}
	})
}
