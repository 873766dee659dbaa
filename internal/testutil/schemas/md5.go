package schemas

import "crypto/md5" // #nosec G501 -- the fixture derives uuids as PostgreSQL's md5() does; nothing is secured by it

func md5sum(s string) [16]byte { return md5.Sum([]byte(s)) } // #nosec G401 -- the fixture derives uuids as PostgreSQL's md5() does
