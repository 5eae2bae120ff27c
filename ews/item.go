package ews

import (
	"context"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// GetItemRequest asks for items by id.
type GetItemRequest struct {
	// Items to get, at least one. Microsoft advises batches of about
	// ten for sync; keep MIME batches small (the whole response is
	// bounded by Options.MaxResponseBytes).
	Items []ItemID
	// Shape says which properties to return; MessageMetadataShape gives
	// the metadata the mirror keeps.
	Shape ItemShape
}

// ItemResult is the outcome for one requested item.
type ItemResult struct {
	// Item is valid when Err is nil.
	Item Item
	// Err is a *ResponseError (e.g. ErrItemNotFound) or a
	// malformed-item error, for this item only.
	Err error
}

// GetItem gets items in one call. It returns one ItemResult per requested
// id, in request order, so one missing item does not fail the others; the
// error is reserved for failures of the whole request.
func (c *Client) GetItem(ctx context.Context, req GetItemRequest) ([]ItemResult, error) {
	const op = "GetItem"
	if len(req.Items) == 0 {
		return nil, invalidf(op, "no items")
	}
	if err := validateItemShape(op, req.Shape); err != nil {
		return nil, err
	}
	el := newOp(op)
	addItemShape(el, req.Shape)
	ids := el.CreateElement("m:ItemIds")
	for i, id := range req.Items {
		if id.ID == "" {
			return nil, invalidf(op, "item %d has no Id", i)
		}
		addItemID(ids, id)
	}
	resp, err := c.call(ctx, &callRequest{Op: op, Body: el, Idempotent: true})
	if err != nil {
		return nil, err
	}
	return decodeGetItem(resp, len(req.Items))
}

func decodeGetItem(resp *soapResponse, want int) ([]ItemResult, error) {
	const op = "GetItem"
	if len(resp.Messages) != want {
		return nil, malformedf(op, "%d response messages for %d items", len(resp.Messages), want)
	}
	if rs, ok := resp.fast.([]ItemResult); ok { // decoded by the fast path
		return rs, nil
	}
	out := make([]ItemResult, want)
	for i, m := range resp.Messages {
		var items []Item
		perr := payloadChildren(m.Elem, func(c *etree.Element) error {
			if !ewsxml.Is(c, nsM, "Items") {
				return nil
			}
			for g := range typesChildren(c) { // Message, Item, CalendarItem, ...
				it, err := decodeItem(g, resp.mime)
				if err != nil {
					return err
				}
				items = append(items, it)
			}
			return nil
		})
		switch {
		case perr != nil:
			out[i].Err = malformed(op, perr)
		case m.Err != nil:
			out[i].Err = m.Err
			if len(items) == 1 {
				out[i].Item = items[0]
			}
		case len(items) != 1:
			out[i].Err = malformedf(op, "message %d holds %d items, want 1", i, len(items))
		default:
			out[i].Item = items[0]
		}
	}
	return out, nil
}
