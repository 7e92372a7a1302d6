// Package mosquittotest runs the real MQTT broker, mosquitto, for tests:
// of the MQTT client (transport), the platform link and the platform
// (agent/platform), and the commands that use them.
//
//	b := mosquittotest.Start(t, "")
//	c, err := transport.NewMQTTClient(transport.MQTTConfig{Broker: b.URL(), ClientID: "dev1"})
//	...
//	b.Stop() // the broker goes away, keeping its sessions
//	b.Start()
package mosquittotest
