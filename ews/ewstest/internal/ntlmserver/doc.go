// Package ntlmserver is the server side of NTLM (MS-NLMP) over HTTP
// (MS-NTHT) for the ewstest fake Exchange server: it issues challenges and
// verifies NTLMv2 responses against users' passwords.
//
// # Basics
//
// An unauthenticated request gets 401 with "WWW-Authenticate: NTLM" and
// "WWW-Authenticate: Negotiate". The client resends with a NEGOTIATE
// message and gets 401 with a CHALLENGE: a random 8-byte server challenge
// and target information (NetBIOS and DNS domain and computer names, and a
// timestamp). The client resends with an AUTHENTICATE message; the server
// computes NTOWFv2 = HMAC-MD5(MD4(UTF-16LE(password)),
// UTF-16LE(UPPER(user) + domain)) for the user the message names and checks
// the NTProofStr of the NTLMv2 response. Success authenticates the TCP
// connection: later requests on it need no Authorization header, while a
// new connection must go through the handshake again (install ConnContext
// as http.Server.ConnContext). Raw NTLM tokens are accepted under both the
// NTLM and the Negotiate scheme, as IIS does.
//
// # Caveats
//
// Only NTLMv2 is accepted: NTLMv1 and LM responses, and anonymous
// AUTHENTICATE messages, are refused. Each challenge can be answered once.
// A MIC is verified when the client announces one (MsvAvFlags); the fake
// does no signing or sealing with the session key, the NTLMv2 blob's
// timestamp is not checked against the clock,
// and SPNEGO-wrapped Kerberos/NTLM tokens under Negotiate are refused. MD4
// is implemented here for NTOWF only.
package ntlmserver
