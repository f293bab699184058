package sip

// offerInfo is what an agent's phone is told about the call it is
// offered: the customer's name from the directory (else the caller's own
// display name or number), segment, reason, queue, the number dialled,
// the wait so far.
func (c *call) offerInfo() OfferInfo {
	reason, by := c.state.Reason(), c.state.TransferredBy()
	cust := c.state.Customer()
	ident := c.state.Identity()
	name := cust.Name
	if name == "" {
		name = ident.DisplayName()
	}
	id := ident.ID
	if c.consult != nil { // a consultation shows the held call (attended_call.go)
		id = c.consult.main.ID()
	}
	return OfferInfo{
		CallID:  id,
		Name:    name,
		Number:  ident.Caller,
		Segment: cust.Segment,
		Reason:  reason,
		Queue:   c.queueName(),
		Hotline: c.state.Hotline().Number,
		Wait:    c.s.now().Sub(ident.Arrived),

		TransferredBy: by,
	}
}
