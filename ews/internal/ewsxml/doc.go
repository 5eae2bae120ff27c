// Package ewsxml is the EWS client's XML codec: namespace constants, the
// parser and its limits, the rules for SOAP faults, response message
// status and MessageXml, and helpers for building SOAP 1.1 envelopes with
// etree. Every response the client reads, whole (operation responses,
// push notifications) or streamed (GetStreamingEvents envelopes), goes
// through it, so each of those rules is written once. The fake server in
// ews/ewstest has its own codec on purpose: the client is tested against
// an independent reading of the protocol.
//
// # Basics
//
// [Parse] reads a whole document with etree and then rewrites every
// element's Space from its prefix to the namespace URI it is bound to, so
// that decoders compare (URI, local name) pairs and never prefixes: real
// Exchange servers use s:/m:/t:/h: prefixes or default namespaces
// interchangeably. After Parse, [Is] tests an element's identity and
// [Children], [ChildElements] and [FirstChild] walk the tree one level at
// a time.
//
// A stream of documents (the envelopes of one GetStreamingEvents body) is
// split with a [NewDecoder] token decoder; [ReadElement] turns each
// envelope into the same resolved etree form, under the same limits.
//
// [ReadStatus], [ReadFault] and [MessageXML] read the status of a response
// message, a soap:Fault and a MessageXml block; [Hints] extracts
// BackOffMilliseconds and InnerErrorResponseCode. [ParseBool] reads an
// xs:boolean.
//
// [NewEnvelope] builds a request envelope with the soap:, m: and t:
// prefixes Microsoft's documentation uses; [Write] serialises a document
// byte-for-byte deterministically.
//
// # Caveats
//
// The package works on io.Reader/io.Writer and etree only; it never imports
// net/http and knows nothing about EWS operations. After [Parse], an
// element's Space holds a namespace URI, not a prefix, so etree's own
// namespace helpers (NamespaceURI, path queries with prefixes) no longer
// apply to that tree. Attribute names keep their prefixes after Parse
// (ReadElement resolves them to URIs); helpers read unprefixed attributes
// only.
//
// Parse and ReadElement bound nesting depth and, optionally, the number of
// tags (see [ParseOptions]); they do not bound input size, which the caller
// does by limiting the reader. Only a declared UTF-8 (or ASCII) encoding is
// accepted. ParseBytes alone tolerates character references to characters
// XML forbids.
package ewsxml
