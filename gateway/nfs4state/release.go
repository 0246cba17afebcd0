package nfs4state

// ReleaseWhere releases every open, lock and delegation state whose file
// handle match accepts (the handles of an export that is no longer
// served): backend files are closed, locks dropped, and the stateids are
// unknown from then on. Other state is not touched. It returns how many
// states matched.
func (m *Manager) ReleaseWhere(match func(fh string) bool) int {
	var list []*State
	m.states.rangeAll(func(s *State) {
		if match(s.FH) {
			list = append(list, s)
		}
	})
	for _, s := range list {
		m.closeFiles(m.release(s))
	}
	return len(list)
}
