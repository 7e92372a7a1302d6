package platform

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"strings"
	"time"
)

// SDKTimestamp is the timestamp the Alink C SDK signs: a fixed day in
// 2050, so freshness is not enforced (spec §1.1).
const SDKTimestamp = "2524608000000"

// Credentials are the MQTT CONNECT fields of a device.
type Credentials struct {
	ClientID, Username, Password string
}

// AlinkCredentials returns the CONNECT fields of spec §1.1 for device dn
// of product pk with device secret ds, in the C SDK 4.x form, signed with
// HMAC-SHA256 over the timestamp ts (milliseconds, as a decimal string).
// securemode is 3 for plain TCP and 2 for TLS.
func AlinkCredentials(pk, dn, ds, ts string, tls bool) Credentials {
	mode := "3"
	if tls {
		mode = "2"
	}
	cid := pk + "." + dn
	return Credentials{
		ClientID: cid + "|timestamp=" + ts + ",_ss=1,_v=atota,securemode=" + mode + ",signmethod=hmacsha256,ext=3,|",
		Username: dn + "&" + pk,
		Password: alinkSign(sha256.New, ds, map[string]string{
			"clientId": cid, "deviceName": dn, "productKey": pk, "timestamp": ts,
		}),
	}
}

// alinkSign returns the lowercase hex HMAC of the name+value pairs sorted
// by name.
func alinkSign(h func() hash.Hash, secret string, fields map[string]string) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + fields[n])
	}
	m := hmac.New(h, []byte(secret))
	m.Write([]byte(b.String()))
	return hex.EncodeToString(m.Sum(nil))
}

// AlinkIdentity is who a CONNECT claims to be.
type AlinkIdentity struct {
	ProductKey, DeviceName string
}

// ParseAlinkUsername splits a CONNECT user name "dn&pk".
func ParseAlinkUsername(username string) (AlinkIdentity, error) {
	dn, pk, ok := strings.Cut(username, "&")
	if !ok || dn == "" || pk == "" {
		return AlinkIdentity{}, fmt.Errorf("platform: MQTT user name %q: want deviceName&productKey", username)
	}
	return AlinkIdentity{ProductKey: pk, DeviceName: dn}, nil
}

// VerifyAlink checks the CONNECT fields of spec §1.1 against the device
// secret ds: the user name names the device, the client id carries the
// sign method (hmacsha256, hmacsha1 or hmacmd5), and the password is the
// HMAC of the sorted pairs, with or without clientId and timestamp, hex
// in either case.
func VerifyAlink(c Credentials, ds string) (AlinkIdentity, error) {
	id, err := ParseAlinkUsername(c.Username)
	if err != nil {
		return id, err
	}
	cid, rest, _ := strings.Cut(c.ClientID, "|")
	params := map[string]string{}
	for kv := range strings.SplitSeq(strings.TrimSuffix(rest, "|"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			params[k] = v
		}
	}
	var h func() hash.Hash
	switch strings.ToLower(params["signmethod"]) {
	case "hmacsha256", "":
		h = sha256.New
	case "hmacsha1":
		h = sha1.New
	case "hmacmd5":
		h = md5.New
	default:
		return id, fmt.Errorf("platform: client id %q: signmethod %q: want hmacsha256, hmacsha1 or hmacmd5", c.ClientID, params["signmethod"])
	}
	base := map[string]string{"deviceName": id.DeviceName, "productKey": id.ProductKey}
	for _, withCID := range []bool{true, false} {
		for _, withTS := range []bool{true, false} {
			f := map[string]string{}
			for k, v := range base {
				f[k] = v
			}
			if withCID {
				f["clientId"] = cid
			}
			if ts, ok := params["timestamp"]; withTS && ok {
				f["timestamp"] = ts
			} else if withTS {
				continue
			}
			if strings.EqualFold(alinkSign(h, ds, f), c.Password) {
				return id, nil
			}
		}
	}
	return id, fmt.Errorf("platform: device %s of product %s: the password is not the HMAC of its fields with the device secret", id.DeviceName, id.ProductKey)
}

// HuaweiCredentials returns the IoTDA CONNECT fields of spec §2.1 for
// device id with secret, at time now (its UTC hour is signed; HMAC
// without timestamp check, "_0_0_").
func HuaweiCredentials(deviceID, secret string, now time.Time) Credentials {
	ts := now.UTC().Format("2006010215")
	m := hmac.New(sha256.New, []byte(ts))
	m.Write([]byte(secret))
	return Credentials{
		ClientID: deviceID + "_0_0_" + ts,
		Username: deviceID,
		Password: hex.EncodeToString(m.Sum(nil)),
	}
}
