package operational

import (
	"net/http"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
)

// Attribute keys, as named by the OpenTelemetry semantic conventions.
const (
	keyMethod        = attribute.Key("http.request.method")
	keyScheme        = attribute.Key("url.scheme")
	keyStatus        = attribute.Key("http.response.status_code")
	keyRoute         = attribute.Key("http.route")
	keyProtoVersion  = attribute.Key("network.protocol.version")
	keyErrorType     = attribute.Key("error.type")
	keyServerAddress = attribute.Key("server.address")
	keyServerPort    = attribute.Key("server.port")
	keyOperation     = attribute.Key("operation.name")
)

var reservedKeys = map[attribute.Key]bool{
	keyMethod: true, keyScheme: true, keyStatus: true, keyRoute: true, keyProtoVersion: true,
	keyErrorType: true, keyServerAddress: true, keyServerPort: true, keyOperation: true,
}

// other is the value recorded for anything outside a known or capped set.
const other = "_OTHER"

// Methods: the nine known methods, then _OTHER. The index is stored in
// cache keys.
var methodNames = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
	http.MethodConnect, http.MethodOptions, http.MethodTrace, http.MethodPatch, other,
}

const methodOther = uint32(len(methodNames) - 1)

// methodIndex maps a request method to its index; the comparison is case
// sensitive, as methods are.
func methodIndex(m string) uint32 {
	switch m {
	case http.MethodGet, "":
		return 0 // net/http treats an empty method as GET
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodDelete:
		return 4
	case http.MethodConnect:
		return 5
	case http.MethodOptions:
		return 6
	case http.MethodTrace:
		return 7
	case http.MethodPatch:
		return 8
	}
	return methodOther
}

// Protocol versions: 0 means unknown (no attribute).
var protoNames = [...]string{"", "1.0", "1.1", "2", "3"}

func protoIndex(major, minor int) uint32 {
	switch {
	case major == 1 && minor == 1:
		return 2
	case major == 2 && minor == 0:
		return 3
	case major == 1 && minor == 0:
		return 1
	case major == 3 && minor == 0:
		return 4
	}
	return 0
}

// Schemes: 0 http, 1 https, 2 _OTHER (client side only).
var schemeNames = [...]string{"http", "https", other}

func schemeIndex(s string) uint32 {
	switch s {
	case "http":
		return 0
	case "https":
		return 1
	}
	return 2
}

// validStatus reports whether code is a status net/http accepts.
func validStatus(code int) bool { return code >= 100 && code <= 999 }

// statusText returns the decimal form of a valid status code.
func statusText(code int) string { return strconv.Itoa(code) }

// serverErrorTexts holds the decimal forms of 500 … 999, built once, so
// that telling a failure's error.type to the customer recorders does not
// allocate.
var serverErrorTexts = sync.OnceValue(func() []string {
	t := make([]string, 500)
	for i := range t {
		t[i] = strconv.Itoa(500 + i)
	}
	return t
})

// serverErrorText is statusText for a code from 500 to 999.
func serverErrorText(code int) string {
	if code >= 500 && code <= 999 {
		return serverErrorTexts()[code-500]
	}
	return statusText(code)
}
