package console

import "context"

// RunHub follows WatchPhones for c's event streams until ctx ends (tests
// serve Handler on httptest instead of Run).
func RunHub(ctx context.Context, c *Console) { c.hub.run(ctx) }
