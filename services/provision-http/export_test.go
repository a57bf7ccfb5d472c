package provisionhttp

// Invalidate drops a phone's cached entries as a PhoneChanged event would.
func (s *Service) Invalidate(mac string) { s.invalidate(mac) }
