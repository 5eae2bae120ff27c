package ews

// DiffDecode exposes diffDecodeEligible to the external tests
// (e2e_fast_test.go): it decodes body for op through the tree path and
// the fast path and returns what differs ("" when nothing), whether the
// fast path was taken and whether it should have been.
func DiffDecode(op string, body []byte, maxTags int) (diff string, usedFast, eligible bool) {
	return diffDecodeEligible(op, body, maxTags)
}
