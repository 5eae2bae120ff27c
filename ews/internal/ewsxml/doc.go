// Package ewsxml is the low-level XML codec shared by the EWS client and the
// fake server: namespace constants, a parser that resolves namespace prefixes
// to URIs, and helpers for building SOAP 1.1 envelopes with etree.
//
// # Basics
//
// [Parse] reads a whole document with etree and then rewrites every
// element's Space from its prefix to the namespace URI it is bound to, so
// that decoders compare (URI, local name) pairs and never prefixes: real
// Exchange servers use s:/m:/t:/h: prefixes or default namespaces
// interchangeably. After Parse, [Is] tests an element's identity and
// [ChildElements] / [FirstChild] walk the tree one level at a time.
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
// apply to that tree. Attribute names keep their prefixes.
//
// Parse bounds nesting depth (see [ParseOptions]); it does not bound input
// size, which the caller does by limiting the reader.
package ewsxml
