package ewstest

import (
	"fmt"
	"slices"
	"time"
)

// SendItem sends a saved draft (EWS SendItem): a copy is delivered to the
// Inbox of every recipient whose mailbox is on this server, and the draft
// is moved to saveFolderID ("" means Sent Items) as a sent, read message,
// or deleted when save is false. It returns the sent copy's ItemId ("" when
// not saved). Sending an item that is not a draft gives ErrorInvalidRequest
// (ErrInvalidArgument).
func (m *Mailbox) SendItem(itemID, saveFolderID string, save bool) (string, error) {
	m.mu.Lock()
	it, err := m.lookupItem(itemID)
	if err != nil {
		m.mu.Unlock()
		return "", err
	}
	if !it.msg.IsDraft {
		m.mu.Unlock()
		return "", fmt.Errorf("%w: item %s is not a draft", ErrInvalidArgument, itemID)
	}
	if saveFolderID == "" {
		saveFolderID = "sentitems"
	}
	to, err := m.lookupFolder(saveFolderID)
	if err != nil {
		m.mu.Unlock()
		return "", err
	}
	msg := cloneMessage(it.msg)
	if msg.From.Email == "" {
		msg.From = Address{Name: m.user, Email: m.address}
	}
	sentID := ""
	if save {
		sent := m.moveLocked(it, to, false)
		cn := m.nextCN()
		sent.msg.IsDraft = false
		sent.msg.From = msg.From
		sent.msg.DateTimeSent = m.now().Truncate(time.Second)
		sent.changeCN = cn
		sent.size = 0
		if !sent.msg.IsRead {
			sent.msg.IsRead = true
			sent.readCN = cn
			to.unread--
		}
		m.touchContent(to, cn, m.now(), true)
		sentID = sent.id
	} else if err := m.deleteLocked(it, HardDelete); err != nil {
		m.mu.Unlock()
		return "", err
	}
	m.mu.Unlock()
	// Deliver after releasing this mailbox: recipients' mailboxes lock on
	// their own, and a message to oneself must not deadlock.
	msg.IsDraft, msg.IsRead = false, false
	msg.DateTimeSent, msg.DateTimeReceived = m.now(), time.Time{}
	for _, rcpt := range slices.Concat(msg.To, msg.Cc, msg.Bcc) {
		if rm := m.srv.Mailbox(rcpt.Email); rm != nil {
			in := cloneMessage(msg)
			in.Bcc = nil
			if _, err := rm.Deliver("inbox", in); err != nil {
				return sentID, err
			}
		}
	}
	return sentID, nil
}
