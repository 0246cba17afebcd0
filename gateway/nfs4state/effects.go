package nfs4state

import "strconv"

// Effects of the state model: what a change of state needs done outside it
// (a callback to a client, a write to the recovery store), returned as
// plain data by the functions that decide it, in the manner of grace.Node.
// The state model changes itself under its locks and returns; the caller
// performs the effects after that, with no state lock held, so that a
// recall or a store write never runs under a file's mutex, and whatever
// the effect calls back into (a recaller that looks the file up, a store
// that blocks on a disk) cannot deadlock with or hold up the state model.
//
// Order matters only between effects of one client: they are returned in
// the order they were decided. A caller that answers a client performs the
// effects of its request before it sends the reply, so what the reply
// tells a client (that it holds state, that another client's state is
// gone) is never ahead of the recovery store.

// EffectKind says what an Effect asks for.
type EffectKind uint8

const (
	// Recall: send CB_RECALL for the delegation State, in the
	// background; a recall that cannot be delivered is reported with
	// RecallFailed. The delegation is marked recalled already: it
	// conflicts until it is returned or revoked.
	Recall EffectKind = iota + 1
	// Record: write Client to the recovery store, durably, and then
	// call Client.SetRecorded. Returned by Manager.Record before the
	// client is granted state: the state must wait for the record (and
	// is not granted if the write fails), so that a client told it holds
	// state can reclaim it after a crash.
	Record
	// Forget: remove Client, which was destroyed or expired, from the
	// recovery store, unless a newer incarnation of its owner is
	// recorded meanwhile (the store is keyed by owner).
	Forget
	// Gone: Client was destroyed; drop what the caller keeps for it (its
	// callback connection).
	Gone
)

func (k EffectKind) String() string {
	switch k {
	case Recall:
		return "recall"
	case Record:
		return "record"
	case Forget:
		return "forget"
	case Gone:
		return "gone"
	}
	return "effect(" + strconv.Itoa(int(k)) + ")"
}

// Effect is one thing to do once the state model's locks are released.
type Effect struct {
	Kind EffectKind
	// State is the delegation to recall (Recall).
	State *State
	// Client is the client to record, forget or let go (Record, Forget,
	// Gone); for Recall, the delegation's holder.
	Client *Client
}

func (e Effect) String() string {
	if e.Client == nil {
		return e.Kind.String()
	}
	return e.Kind.String() + " client " + strconv.FormatUint(e.Client.ID, 16)
}

// Effects is a list of effects, in the order to perform them.
type Effects []Effect

// Of returns the effects of kind k.
func (fx Effects) Of(k EffectKind) Effects {
	var out Effects
	for _, e := range fx {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// Record returns what makes client c durable before it is granted state:
// a Record effect, unless c is in the recovery store already (one write
// per client and server instance, not one per open).
func (m *Manager) Record(c *Client) Effects {
	if c.recorded.Load() {
		return nil
	}
	return Effects{{Kind: Record, Client: c}}
}

// RecordedOwner reports whether a client of owner other than c, not
// destroyed, is in the recovery store: a Forget of c must then leave the
// owner's record alone, as it is the newer client's now.
func (m *Manager) RecordedOwner(owner string, c *Client) bool {
	found := false
	m.owners.update(owner, func(e *ownerEntry, ok bool) (*ownerEntry, bool) {
		if !ok {
			return e, false
		}
		for _, x := range []*Client{e.confirmed, e.unconfirmed} {
			if x != nil && x != c && x.recorded.Load() && !x.destroyed.Load() {
				found = true
			}
		}
		return e, true
	})
	return found
}
