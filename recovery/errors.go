package recovery

import "errors"

// ErrNoFolders is returned by ReadProps when it is given no folder ids.
var ErrNoFolders = errors.New("recovery: no folders to read")
