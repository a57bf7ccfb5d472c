package vendorsim

import (
	"testing"
)

// readers runs one vendor's file reader and extraction, as a plan would.
var readers = []func(p Phone, b []byte) error{
	func(_ Phone, b []byte) error {
		c := &Config{}
		err := readYealinkCfg(b, c)
		yealinkExtract(c)
		return err
	},
	func(_ Phone, b []byte) error { _, err := yealinkIncludes(b); return err },
	func(p Phone, b []byte) error {
		c := &Config{}
		err := readGrandstreamXML(p, b, c)
		grandstreamExtract(p, c)
		return err
	},
	func(_ Phone, b []byte) error { c := &Config{}; _, err := readSnomXML(b, c); snomExtract(c); return err },
	func(_ Phone, b []byte) error { c := &Config{}; err := readFanvil(b, c); fanvilExtract(c); return err },
	func(_ Phone, b []byte) error {
		c := &Config{}
		frame, err := readGigasetXML(b, c)
		if frame {
			gigasetFrameExtract(c)
		} else {
			gigasetExtract(c)
		}
		return err
	},
	func(p Phone, b []byte) error { c := &Config{}; err := readHtekXML(p, b, c); htekExtract(c); return err },
	func(_ Phone, b []byte) error { c := &Config{}; err := readPolyXML(b, c); polyExtract(c); return err },
	func(_ Phone, b []byte) error { _, err := polyConfigFiles(b); return err },
	func(_ Phone, b []byte) error { c := &Config{}; err := readCiscoXML(b, c); ciscoExtract(c); return err },
	func(_ Phone, b []byte) error {
		c := &Config{}
		err := readCiscoSEP(b, c)
		ciscoSEPExtract(c)
		return err
	},
	// A Grandstream DECT base: the handset-account layout (gs_blocks "dp").
	func(_ Phone, b []byte) error {
		dp, err := NewPhone("grandstream", "DP750", "000b82aabbcc", "")
		if err != nil {
			return err
		}
		c := &Config{}
		err = readGrandstreamXML(dp, b, c)
		grandstreamExtract(dp, c)
		return err
	},
}

// FuzzReaders feeds arbitrary files to every vendor reader: malformed input
// is an error, never a panic or a hang.
func FuzzReaders(f *testing.F) {
	seeds := []string{
		"#!version:1.0.0.1\naccount.1.enable = 1\naccount.1.user_name = 201\naccount.1.codec.g722.enable = 1\naccount.1.codec.g722.priority = 1\nlocal_time.time_zone = +5:30\n",
		"#!version:1.0.0.1\ninclude:config \"y000000000096.cfg\"\ninclude:config 001565aabbcc.cfg\n",
		`<?xml version="1.0"?><gs_provision version="1"><mac>000b82aabbcc</mac><config version="1"><P35>1</P35><P47>h:5060</P47><P57>9</P57><P246>CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00</P246><item name="account.2.sip.userid">2</item></config></gs_provision>`,
		`<settings><phone-settings><user_name idx="1">1</user_name><user_host idx="1">h:5061;transport=tls</user_host><timezone>GER+1</timezone></phone-settings></settings>`,
		`<setting-files><file url="http://h/x.xml"/></setting-files>`,
		`<device><devicePool><dateTimeSetting><timeZone>Tasmania Standard/Daylight Time</timeZone></dateTimeSetting></devicePool><sipProfile><sipLines><line button="1" lineIndex="1"><name>201</name><proxy>USECALLMANAGER</proxy><port>5060</port></line><line button="x"/></sipLines></sipProfile><transportLayerProtocol>1</transportLayerProtocol></device>`,
		`<sysConf><sip><line index="1"><PhoneNumber>1</PhoneNumber><Transport>3</Transport></line></sip><date><TimeZone>-20</TimeZone></date></sysConf>`,
		`<provisioning><nvm><param name="SipAccount.00001.UserName" value="1"/><param name="SipAccount.00001.ProviderId" value="0"/><param name="DmGlobal.0.TimeZone" value="Europe/Berlin"/></nvm></provisioning>`,
		`<hl_provision><config><P35 para="Account1_SipUserId">1</P35><P64 para="Preference_TimeZone">49</P64></config></hl_provision>`,
		`<polycomConfig reg.1.address="1" voice.codecPref.G722="1" tcpIpApp.sntp.gmtOffset="3600"/>`,
		`<APPLICATION CONFIG_FILES="phone[PHONE_MAC_ADDRESS].cfg, a.cfg"/>`,
		`<flat-profile><User_ID_1_>1</User_ID_1_><Proxy_1_>[::1]:5060</Proxy_1_><Time_Zone>GMT-03:30</Time_Zone></flat-profile>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><ProviderFrame><x>` + "\xe9" + `</x></ProviderFrame>`,
		`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	// Fanvil's legacy <VOIP_CONFIG_FILE> (reader 4) and a DP750 file (the last reader).
	f.Add(uint8(4), []byte(`<?xml version="1.0"?><VOIP_CONFIG_FILE><version>2.0002</version><GLOBAL_CONFIG_MODULE><Time_Zone>-20</Time_Zone><Language>4</Language></GLOBAL_CONFIG_MODULE>`+
		`<MMI_CONFIG_MODULE><MMI_Account><MMI_Account_Entry><ID>Account1</ID><Name>admin</Name><Password>x</Password></MMI_Account_Entry></MMI_Account></MMI_CONFIG_MODULE>`+
		`<SIP_CONFIG_MODULE><SIP_Line_List><SIP_Line_List_Entry><ID>SIP1</ID><Phone_Number>1</Phone_Number><Transport>2</Transport><VoiceCodecMap>G711U,G726-32</VoiceCodecMap></SIP_Line_List_Entry></SIP_Line_List></SIP_CONFIG_MODULE></VOIP_CONFIG_FILE>`))
	f.Add(uint8(len(readers)-1), []byte(`<gs_provision version="1"><mac>000b82aabbcc</mac><config version="1"><P271>1</P271><P47>h:5060</P47><P4060>1</P4060><P4120>pw</P4120><P27080>1</P27080></config></gs_provision>`))
	p, _ := NewPhone("grandstream", "GRP2614", "000b82aabbcc", "")
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		_ = readers[int(which)%len(readers)](p, data)
	})
}

// FuzzZones exercises the time-zone decoders.
func FuzzZones(f *testing.F) {
	for _, s := range []string{"+1", "-5:30", "GMT+01:00", "CET-1CEST-2,M3.5.0", "<-03>3", "GER+1", "USA-5", "Europe/Berlin", "+99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if off, ok := parseOffset(s); ok && (off < -15*3600 || off > 15*3600) {
			t.Fatalf("offset %d from %q", off, s)
		}
		_, _, _ = posixOffset(s)
		_, _ = snomZone(s)
		_ = languageTag("yealink", s)
		_ = neutralCodec(s)
		_ = codecList(s)
		_, _ = splitHostPort(s)
	})
}
