package masking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"unicode/utf8"
)

// placeholder matches the placeholders of a Pseudonym format: {n} and
// {hex:N}. Other braces are literal text.
var placeholder = regexp.MustCompile(`\{(?:n|hex:([0-9]+))\}`)

// maxHex is the most hex digits {hex:N} can take: one SHA-256.
const maxHex = 2 * sha256.Size

// checkFormat checks a Pseudonym format and returns the length of its
// shortest rendering ({n} counts one digit).
func checkFormat(format string) (least int, why string) {
	locs := placeholder.FindAllStringSubmatchIndex(format, -1)
	if len(locs) == 0 {
		return 0, fmt.Sprintf("format %q needs a placeholder {n} or {hex:N}", format)
	}
	least = utf8.RuneCountInString(format)
	for _, l := range locs {
		least -= l[1] - l[0]
		if l[2] < 0 {
			least++
			continue
		}
		n, err := strconv.Atoi(format[l[2]:l[3]])
		if err != nil || n < 1 || n > maxHex {
			return 0, fmt.Sprintf("format %q: {hex:N} takes 1 to %d digits", format, maxHex)
		}
		least += n
	}
	return least, ""
}

// renderPseudonym fills a format for the run's subject: {n} with k.Number,
// {hex:N} with the first N hex digits of HMAC-SHA-256(k.HashKey, k.Subject),
// or of SHA-256(k.Subject) when there is no key.
func renderPseudonym(format string, k Keys) (string, error) {
	var (
		digest string
		err    error
	)
	out := placeholder.ReplaceAllStringFunc(format, func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		if sub[1] == "" {
			if k.Number < 1 {
				err = errors.New("pseudonym {n} needs the subject's number (Keys.Number, at least 1)")
			}
			return strconv.FormatInt(k.Number, 10)
		}
		if k.Subject == "" {
			err = errors.New("pseudonym {hex:N} needs the subject's token (Keys.Subject)")
			return ""
		}
		if digest == "" {
			digest = subjectDigest(k)
		}
		n, _ := strconv.Atoi(sub[1]) // checkFormat bounded it
		return digest[:n]
	})
	return out, err
}

func subjectDigest(k Keys) string {
	if len(k.HashKey) == 0 {
		sum := sha256.Sum256([]byte(k.Subject))
		return hex.EncodeToString(sum[:])
	}
	mac := hmac.New(sha256.New, k.HashKey)
	mac.Write([]byte(k.Subject))
	return hex.EncodeToString(mac.Sum(nil))
}

// HMACSQL is the SQL expression of the lower-case hex HMAC-SHA-256, keyed
// with key, of the UTF-8 text of the text expression expr: the key travels
// as its two padded forms, parameters that param adds to the statement and
// names. It needs no extension.
func HMACSQL(param func(any) string, key []byte, expr string) string {
	ipad, opad := hmacPads(key)
	return fmt.Sprintf("encode(sha256(%s::bytea || sha256(%s::bytea || convert_to(%s, 'UTF8'))), 'hex')",
		param(opad), param(ipad), expr)
}

// hmacPads are HMAC-SHA-256's inner and outer padded keys: with them,
// HMAC(K, m) = SHA-256(opad ‖ SHA-256(ipad ‖ m)), which PostgreSQL computes
// with its built-in sha256(bytea).
func hmacPads(key []byte) (ipad, opad []byte) {
	const blockSize = 64
	if len(key) > blockSize {
		sum := sha256.Sum256(key)
		key = sum[:]
	}
	ipad, opad = make([]byte, blockSize), make([]byte, blockSize)
	copy(ipad, key)
	copy(opad, key)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	return ipad, opad
}

// KeyedPseudonym renders a Pseudonym format as a statement built with
// Keys.Identifier writes it for a row whose identifier is id: {hex:N} the
// first N hex digits of HMAC-SHA-256(key, id), {n} the number of its first
// 48 bits. A unique column may add "_" and the row's key to it when the
// value was taken. It lets a job record a person's pseudonym (in a mapping
// it keeps) without reading it back from the database.
func KeyedPseudonym(format string, key []byte, id string) (string, error) {
	if _, why := checkFormat(format); why != "" {
		return "", errors.New(why)
	}
	digest := subjectDigest(Keys{HashKey: key, Subject: id})
	n, err := strconv.ParseInt(digest[:12], 16, 64)
	if err != nil {
		return "", err
	}
	return renderPseudonym(format, Keys{HashKey: key, Subject: id, Number: n})
}
