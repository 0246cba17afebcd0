package fsal

import (
	"context"
	"sync/atomic"
)

// Scope lets a backend do once per request (one COMPOUND) what it would
// otherwise do for every operation in it: localfs checks once whether the
// kernel queued a change to the directories whose entries it caches,
// instead of a statx per LOOKUP. A Scope remembers which backend instance
// did its check; a backend that changes names itself resets it, so that its
// next operation in the same request checks again.
//
// Callers that pass no Scope (ScopeOf returns nil) get the check on every
// call, which is always correct.
type Scope struct {
	checked atomic.Uint64 // the ScopeToken of the backend that checked
}

// ScopeToken names one backend instance in a Scope; NewScopeToken hands
// out distinct non-zero tokens.
type ScopeToken uint64

var scopeTokens atomic.Uint64

// NewScopeToken returns a token no other caller has.
func NewScopeToken() ScopeToken { return ScopeToken(scopeTokens.Add(1)) }

// Checked reports whether the backend tok already checked in this scope.
func (s *Scope) Checked(tok ScopeToken) bool {
	return s != nil && s.checked.Load() == uint64(tok)
}

// SetChecked records that tok has checked.
func (s *Scope) SetChecked(tok ScopeToken) {
	if s != nil {
		s.checked.Store(uint64(tok))
	}
}

// Reset makes the next Checked false, whoever checked.
func (s *Scope) Reset() {
	if s != nil {
		s.checked.Store(0)
	}
}

type scopeKey struct{}

// ScopeOf returns the Scope ctx carries, or nil.
func ScopeOf(ctx context.Context) *Scope {
	s, _ := ctx.Value(scopeKey{}).(*Scope)
	return s
}

// ScopedContext is a context carrying a Scope. It is meant to be a field of
// a per-request struct, so that giving each request a Scope costs no
// allocation: set Context, then pass a pointer to the ScopedContext.
type ScopedContext struct {
	context.Context
	Scope Scope
}

// Value returns the Scope for ScopeOf and defers every other key to the
// parent.
func (c *ScopedContext) Value(key any) any {
	if key == (scopeKey{}) {
		return &c.Scope
	}
	return c.Context.Value(key)
}
