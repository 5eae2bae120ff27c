package ews

import (
	"errors"
	"fmt"
)

// Errors of Autodiscover. Match them with errors.Is.
var (
	// ErrAutodiscoverFailed reports that no Autodiscover endpoint answered
	// for a mailbox: every candidate URL failed (network error, HTTP
	// status, a body that is not an Autodiscover response, a request-wide
	// ErrorCode). The error also wraps each candidate's failure, so
	// errors.Is(err, ErrUnauthorized) tells that some endpoint refused the
	// credentials.
	ErrAutodiscoverFailed = errors.New("ews: autodiscover failed")
	// ErrRedirectRefused reports a redirect the client will not follow: to
	// a plain-http URL, to an address or URL in another domain without the
	// caller's consent (AutodiscoverOptions.AllowRedirect), or to the very
	// address that was asked; and an EWS URL over plain http from an https
	// Autodiscover endpoint.
	ErrRedirectRefused = errors.New("ews: autodiscover redirect refused")
	// ErrTooManyRedirects reports a redirect chain longer than
	// AutodiscoverOptions.MaxRedirects, or one that comes back to an
	// address or URL it already visited.
	ErrTooManyRedirects = errors.New("ews: too many autodiscover redirects")
)

// AutodiscoverCode is an Autodiscover ErrorCode (SOAP Autodiscover's
// ErrorCode element, [REF] errorcode-soap). Like Code it is itself an
// error, so errors.Is(err, ews.AutodiscoverInvalidUser) matches an
// *AutodiscoverError carrying it.
type AutodiscoverCode string

// Error returns the code prefixed with the package name.
func (c AutodiscoverCode) Error() string { return "ews: autodiscover " + string(c) }

// ErrorCode values of SOAP Autodiscover. RedirectAddress and RedirectUrl
// are followed by the client and never returned.
const (
	// AutodiscoverInvalidUser: no such mailbox (POX ErrorCode 500 maps here).
	AutodiscoverInvalidUser AutodiscoverCode = "InvalidUser"
	// AutodiscoverInvalidRequest: the request is invalid (other POX codes map here).
	AutodiscoverInvalidRequest AutodiscoverCode = "InvalidRequest"
	// AutodiscoverInvalidSetting: a requested setting is invalid.
	AutodiscoverInvalidSetting AutodiscoverCode = "InvalidSetting"
	// AutodiscoverSettingIsNotAvailable: a requested setting is not available.
	AutodiscoverSettingIsNotAvailable AutodiscoverCode = "SettingIsNotAvailable"
	// AutodiscoverServerBusy: the server is too busy; retry later.
	AutodiscoverServerBusy AutodiscoverCode = "ServerBusy"
	// AutodiscoverInvalidDomain: the domain is not valid.
	AutodiscoverInvalidDomain AutodiscoverCode = "InvalidDomain"
	// AutodiscoverNotFederated: the organization is not federated.
	AutodiscoverNotFederated AutodiscoverCode = "NotFederated"
	// AutodiscoverInternalServerError: the server failed; retry later.
	AutodiscoverInternalServerError AutodiscoverCode = "InternalServerError"

	autodiscoverNoError         AutodiscoverCode = "NoError"
	autodiscoverRedirectAddress AutodiscoverCode = "RedirectAddress"
	autodiscoverRedirectURL     AutodiscoverCode = "RedirectUrl"
)

// AutodiscoverError is an Autodiscover error for one mailbox (the
// ErrorCode of its SOAP UserResponse, or the Error of a POX response), or,
// with an empty Address, for a whole request (the ErrorCode of the SOAP
// Response). It matches its Code with errors.Is.
type AutodiscoverError struct {
	// Address is the mailbox asked for; "" for a request-wide error.
	Address string
	// URL is the Autodiscover endpoint that answered.
	URL string
	// Code is the ErrorCode.
	Code AutodiscoverCode
	// Message is the ErrorMessage text.
	Message string
}

// Error describes the failure.
func (e *AutodiscoverError) Error() string {
	s := "ews: autodiscover"
	if e.Address != "" {
		s += " " + e.Address
	}
	s += ": " + string(e.Code)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.URL != "" {
		s += " (from " + e.URL + ")"
	}
	return s
}

// Is matches an AutodiscoverCode equal to Code.
func (e *AutodiscoverError) Is(target error) bool {
	c, ok := target.(AutodiscoverCode)
	return ok && c == e.Code
}

// Unwrap returns Code, so that errors.As can extract it.
func (e *AutodiscoverError) Unwrap() error { return e.Code }

// IsTransient reports whether asking again later may succeed
// (ServerBusy, InternalServerError).
func (e *AutodiscoverError) IsTransient() bool {
	return e.Code == AutodiscoverServerBusy || e.Code == AutodiscoverInternalServerError
}

// SettingError is a setting that Autodiscover could not return for a
// mailbox (a UserSettingError), such as GroupingInformation on a server
// that predates it. It does not fail the mailbox's lookup.
type SettingError struct {
	// Setting is the setting's name.
	Setting string
	// Code is the ErrorCode, e.g. AutodiscoverInvalidSetting.
	Code AutodiscoverCode
	// Message is the ErrorMessage text.
	Message string
}

// redirectErr reports a redirect refused (or stopped) for address.
func redirectErr(sentinel error, address, format string, args ...any) error {
	return fmt.Errorf("ews: autodiscover %s: %w: %s", address, sentinel, fmt.Sprintf(format, args...))
}
