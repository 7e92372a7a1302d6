package platform

import (
	"crypto/sha1"
	"strings"
	"testing"
	"time"
)

// The expected passwords were computed outside Go, from the formula of
// spec §1.1 and §2.1:
//
//	printf %s 'clientIda1FhgaRDrde.device1deviceNamedevice1productKeya1FhgaRDrdetimestamp2524608000000' |
//	    openssl dgst -sha256 -hmac secret
//	printf %s secret | openssl dgst -sha256 -hmac 2024060108
func TestAlinkCredentials(t *testing.T) {
	c := AlinkCredentials("a1FhgaRDrde", "device1", "secret", SDKTimestamp, false)
	want := Credentials{
		ClientID: "a1FhgaRDrde.device1|timestamp=2524608000000,_ss=1,_v=atota,securemode=3,signmethod=hmacsha256,ext=3,|",
		Username: "device1&a1FhgaRDrde",
		Password: "518a88dabe982ba9652ef659cee6809fee122fd8de77705360645fa8b3502c02",
	}
	if c != want {
		t.Errorf("AlinkCredentials = %+v\nwant %+v", c, want)
	}
	if tls := AlinkCredentials("a1FhgaRDrde", "device1", "secret", SDKTimestamp, true); !strings.Contains(tls.ClientID, "securemode=2") {
		t.Errorf("TLS client id %q lacks securemode=2", tls.ClientID)
	}
}

func TestHuaweiCredentials(t *testing.T) {
	at := time.Date(2024, 6, 1, 8, 15, 0, 0, time.UTC)
	c := HuaweiCredentials("dev1", "secret", at)
	want := Credentials{ClientID: "dev1_0_0_2024060108", Username: "dev1", Password: "f8876c48997e79a8fa6af0bd0dc9e71bfddbb0c4de21037030ad6c3a998313bf"}
	if c != want {
		t.Errorf("HuaweiCredentials = %+v, want %+v", c, want)
	}
}

func TestVerifyAlink(t *testing.T) {
	good := AlinkCredentials("pk", "dn", "ds", SDKTimestamp, false)
	upper := good
	upper.Password = strings.ToUpper(good.Password)
	docForm := Credentials{ // doc form: no timestamp signed, bare client id
		ClientID: "pk.dn|securemode=3,signmethod=hmacsha1|",
		Username: "dn&pk",
		Password: alinkSign(sha1New, "ds", map[string]string{"clientId": "pk.dn", "deviceName": "dn", "productKey": "pk"}),
	}
	tests := []struct {
		name   string
		c      Credentials
		secret string
		ok     bool
	}{
		{name: "C SDK form", c: good, secret: "ds", ok: true},
		{name: "uppercase hex", c: upper, secret: "ds", ok: true},
		{name: "doc form, hmacsha1", c: docForm, secret: "ds", ok: true},
		{name: "wrong secret", c: good, secret: "other", ok: false},
		{name: "other device in user name", c: Credentials{ClientID: good.ClientID, Username: "dn2&pk", Password: good.Password}, secret: "ds", ok: false},
		{name: "no ampersand", c: Credentials{ClientID: good.ClientID, Username: "dn", Password: good.Password}, secret: "ds", ok: false},
		{name: "unknown sign method", c: Credentials{ClientID: "pk.dn|signmethod=rsa|", Username: "dn&pk", Password: good.Password}, secret: "ds", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := VerifyAlink(tt.c, tt.secret)
			if (err == nil) != tt.ok {
				t.Fatalf("VerifyAlink = %v, want ok %v", err, tt.ok)
			}
			if tt.ok && (id.ProductKey != "pk" || id.DeviceName != "dn") {
				t.Errorf("identity = %+v, want pk/dn", id)
			}
		})
	}
}

func FuzzVerifyAlink(f *testing.F) {
	c := AlinkCredentials("pk", "dn", "ds", SDKTimestamp, false)
	f.Add(c.ClientID, c.Username, c.Password)
	f.Add("|||", "&", "")
	f.Fuzz(func(t *testing.T, cid, user, pass string) {
		id, err := VerifyAlink(Credentials{ClientID: cid, Username: user, Password: pass}, "ds")
		if err == nil && (id.ProductKey == "" || id.DeviceName == "") {
			t.Errorf("accepted %q %q with an empty identity", cid, user)
		}
	})
}

var sha1New = sha1.New
