package render

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/catalog"
)

// The reference table: for each vendor file format, the vendor's own key
// names and value encodings, copied by hand from public templates (Wazo's
// provd plugins, FusionPBX's provisioning templates), never computed from the
// renderer's own tables. README.md ("Reference table") lists the same sources.
// TestReferenceTable renders every catalog model for a two-account profile
// carrying every setting a seed profile carries, over TCP and over TLS, and
// checks each applicable row.

const refToken = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde"

const (
	refURL        = "https://prov.example.net/p/" + refToken + "/"
	refURLNoSlash = "https://prov.example.net/p/" + refToken
)

type refRow struct {
	vendor string
	when   func(*catalog.Model) bool // nil: every model of the vendor
	acct2  bool                      // only for models with two accounts or more
	tr     string                    // "tcp" or "tls" run only; "" both
	lang   string                    // only when the profile's language is this
	key    string
	want   string
	absent bool // the key must not be written at all
	src    string
}

// Sources (repository and path), as cited in README.md.
const (
	srcYealink     = "wazo-platform/wazo-provd-plugins plugins/wazo_yealink/v86/templates/base.tpl; fusionpbx/fusionpbx resources/templates/provision/yealink/t46u/{$mac}.cfg"
	srcYealinkLang = "wazo-platform/wazo-provd-plugins plugins/wazo_yealink/v83/var/tftpboot/lang/; fusionpbx/fusionpbx resources/templates/provision/yealink/cp860/y000000000037.cfg"
	srcYealinkDECT = "fusionpbx/fusionpbx resources/templates/provision/yealink/w70b/y000000000146.cfg"
	srcFanvilNew   = "wazo-platform/wazo-provd-plugins plugins/wazo_fanvil/common/templates/base-new.tpl; fusionpbx/fusionpbx resources/templates/provision/fanvil/x4u/{$mac}.cfg"
	srcFanvilVCF   = "wazo-platform/wazo-provd-plugins plugins/wazo_fanvil/common/templates/base.tpl; fusionpbx/fusionpbx resources/templates/provision/fanvil/x4/{$mac}.cfg"
	srcGS          = "fusionpbx/fusionpbx resources/templates/provision/grandstream/gxp16xx/{$mac}.xml, grp2614/{$mac}.xml"
	srcGS21        = "fusionpbx/fusionpbx resources/templates/provision/grandstream/gxp21xx/{$mac}.xml"
	srcGS26        = "fusionpbx/fusionpbx resources/templates/provision/grandstream/grp26xx/{$mac}.xml"
	srcGSDP        = "fusionpbx/fusionpbx resources/templates/provision/grandstream/dp750/{$mac}.xml"
	srcSnom        = "wazo-platform/wazo-provd-plugins plugins/wazo_snom/common/templates/base.tpl, common/common.py; fusionpbx/fusionpbx resources/templates/provision/snom/D785/{$mac}.xml"
	srcSnomDECT    = "wazo-platform/wazo-provd-plugins plugins/wazo_snom/common_dect/templates/base.tpl"
	srcGigaset     = "wazo-platform/wazo-provd-plugins plugins/wazo_gigaset/Nx70_83_v2_65_0/templates/base.tpl, N870_83_v2_48_0/common.py"
	srcSnomKLE     = "fusionpbx/fusionpbx resources/templates/provision/snom/M100KLE/{$mac}.xml, M500KLE/{$mac}.xml"
	srcSnomM3      = "fusionpbx/fusionpbx resources/templates/provision/snom/m3/{$mac}.cfg"
	srcGigasetN510 = "wazo-platform/wazo-provd-plugins plugins/wazo_gigaset/N510/templates/base.tpl, common/common.py"
	srcGigasetN720 = "wazo-platform/wazo-provd-plugins plugins/wazo_gigaset/N720/templates/base.tpl, common/common.py"
	srcHtek        = "wazo-platform/wazo-provd-plugins plugins/wazo_htek/v2_0_4_4_58/templates/base.tpl; fusionpbx/fusionpbx resources/templates/provision/htek/uc926/{$mac}.cfg"
	srcPoly        = "wazo-platform/wazo-provd-plugins plugins/wazo_polycom/common/templates/base.tpl, common/common.py; fusionpbx/fusionpbx resources/templates/provision/polycom/6.x/{$mac}.cfg"
	srcPolyCodecs  = "fusionpbx/fusionpbx resources/templates/provision/polycom/ccx500/{$mac}.cfg, app/polycom/app_config.php"
	srcCisco       = "fusionpbx/fusionpbx resources/templates/provision/cisco/8841/{$mac}.xml, spa504g/{$mac}.xml"
	srcCisco79     = "fusionpbx/fusionpbx resources/templates/provision/cisco/7960/SIP{$mac}.cnf, SIPDefault.cnf"
	srcCiscoSEP    = "fusionpbx/fusionpbx resources/templates/provision/cisco/79x1/SEP{$mac}.cnf.xml; wazo-platform/wazo-provd-plugins plugins/wazo_cisco_sip/common/templates/base.tpl, common/common.py"
	srcCiscoSEPWz  = "wazo-platform/wazo-provd-plugins plugins/wazo_cisco_sip/common/templates/base.tpl, common/common.py"
	// Checked for issue #13 (values the code used to mark "(inferred)").
	srcFanvilDST = "fusionpbx/fusionpbx resources/templates/provision/fanvil/x6/{$mac}.cfg, x2p/{$mac}.cfg; wazo-platform/wazo-provd wazo_provd/tzinform/tzdatax"
	srcPolyDST   = "azmanual.top/manuals/189944/polycom-soundpoint-sip-220.html?page=165"
	srcGSPoll    = "fusionpbx/fusionpbx resources/templates/provision/grandstream/gxp16xx/{$mac}.xml, grp26xx/{$mac}.xml, dp750/{$mac}.xml"
	srcHtekPoll  = "fusionpbx/fusionpbx resources/templates/provision/htek/uc923/{$mac}.cfg"
	srcHtekDST   = "fusionpbx/fusionpbx app/htek/app_config.php"
)

func isVCF(m *catalog.Model) bool        { return m.Var("format") == "vcf" }
func notVCF(m *catalog.Model) bool       { return m.Var("format") != "vcf" }
func gs1700(m *catalog.Model) bool       { return m.Var("gs_blocks") == "1700" && m.SIPAccounts >= 6 }
func gsEightSlots(m *catalog.Model) bool { return m.Var("codec_slots") == "8" }
func isDECT(m *catalog.Model) bool       { return m.IsDECT() }
func notDECT(m *catalog.Model) bool      { return !m.IsDECT() }
func isDP(m *catalog.Model) bool         { return m.Var("gs_blocks") == "dp" }
func notDP(m *catalog.Model) bool        { return m.Var("gs_blocks") != "dp" }
func snomDECT(m *catalog.Model) bool     { return m.Var("dect") == "1" }
func snomSettings(m *catalog.Model) bool { return m.Vendor == "snom" && !isKLE(m) && !isM3(m) }
func isKLE(m *catalog.Model) bool        { return m.Var("format") == "kle" }
func isM3(m *catalog.Model) bool         { return m.Var("format") == "m3" }
func isSIP79(m *catalog.Model) bool      { return m.Var("format") == "sip79" }
func isSEP(m *catalog.Model) bool        { return m.Var("format") == "sep" }
func ciscoFlat(m *catalog.Model) bool    { return !isSIP79(m) && !isSEP(m) } // MPP 3PCC and SPA <flat-profile>
func isPF510(m *catalog.Model) bool      { return m.Var("format") == "pf510" }
func isPF720(m *catalog.Model) bool      { return m.Var("format") == "pf720" }
func notPF(m *catalog.Model) bool        { return !isPF510(m) && !isPF720(m) }

var refTable = []refRow{
	// Yealink
	{vendor: "yealink", key: "account.1.enable", want: "1", src: srcYealink},
	{vendor: "yealink", key: "account.1.user_name", want: "201", src: srcYealink},
	{vendor: "yealink", key: "account.1.auth_name", want: "auth201", src: srcYealink},
	{vendor: "yealink", key: "account.1.password", want: "pw-201", src: srcYealink},
	{vendor: "yealink", key: "account.1.sip_server.1.address", want: "pbx.example.net", src: srcYealink},
	{vendor: "yealink", tr: "tcp", key: "account.1.sip_server.1.port", want: "5060", src: srcYealink},
	{vendor: "yealink", tr: "tcp", key: "account.1.sip_server.1.transport_type", want: "1", src: srcYealink},
	{vendor: "yealink", tr: "tls", key: "account.1.sip_server.1.transport_type", want: "2", src: srcYealink},
	{vendor: "yealink", key: "account.1.sip_server.1.expires", want: "3600", src: srcYealink},
	{vendor: "yealink", key: "account.1.outbound_proxy_enable", want: "1", src: srcYealink},
	{vendor: "yealink", key: "account.1.outbound_proxy.1.address", want: "sbc.example.net", src: srcYealink},
	{vendor: "yealink", acct2: true, key: "account.2.user_name", want: "202", src: srcYealink},
	{vendor: "yealink", key: "account.1.codec.pcmu.enable", want: "1", src: srcYealink},
	{vendor: "yealink", key: "account.1.codec.pcmu.priority", want: "1", src: srcYealink},
	{vendor: "yealink", key: "account.1.codec.g722.priority", want: "3", src: srcYealink},
	{vendor: "yealink", key: "static.auto_provision.server.url", want: refURL, src: srcYealink},
	{vendor: "yealink", key: "local_time.ntp_server1", want: "ntp.example.net", src: srcYealink},
	{vendor: "yealink", key: "local_time.time_zone", want: "-5", src: srcYealink},
	{vendor: "yealink", key: "local_time.summer_time", want: "1", src: srcYealink},
	{vendor: "yealink", key: "static.security.user_password", want: "admin:Adm1n-pw", src: srcYealink},
	{vendor: "yealink", lang: "fr", key: "lang.gui", want: "French", src: srcYealinkLang},
	{vendor: "yealink", lang: "fr", key: "lang.wui", want: "French", src: srcYealinkLang},

	{vendor: "yealink", when: isDECT, key: "handset.1.incoming_lines", want: "1", src: srcYealinkDECT},
	{vendor: "yealink", when: isDECT, key: "handset.1.dial_out_default_line", want: "1", src: srcYealinkDECT},
	{vendor: "yealink", when: isDECT, acct2: true, key: "handset.2.dial_out_lines", want: "2", src: srcYealinkDECT},
	{vendor: "yealink", when: notDECT, key: "handset.1.incoming_lines", absent: true, src: srcYealinkDECT},

	// Fanvil <sysConf>
	{vendor: "fanvil", when: notVCF, key: "sip/line[1]/PhoneNumber", want: "201", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, key: "sip/line[1]/RegisterUser", want: "auth201", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, key: "sip/line[1]/RegisterPswd", want: "pw-201", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, key: "sip/line[1]/RegisterAddr", want: "pbx.example.net", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, tr: "tcp", key: "sip/line[1]/RegisterPort", want: "5060", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, tr: "tcp", key: "sip/line[1]/Transport", want: "1", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, tr: "tls", key: "sip/line[1]/Transport", want: "3", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, key: "sip/line[1]/ProxyAddr", want: "sbc.example.net", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, key: "sip/line[1]/VoiceCodecMap", want: "PCMU,PCMA,G722", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, acct2: true, key: "sip/line[2]/PhoneNumber", want: "202", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, lang: "fr", key: "phone/display/DefaultLanguage", want: "fr", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, key: "ap/FlashServerIP", want: refURLNoSlash, src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, key: "ap/FlashProtocol", want: "5", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, key: "phone/date/TimeZone", want: "-20", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, key: "phone/date/TimeZoneName", want: "UTC-05", src: srcFanvilNew},
	{vendor: "fanvil", when: notVCF, key: "VOIP_CONFIG_FILE", absent: true, src: srcFanvilNew},
	// DST by week: US rule = 2nd (start) / 1st (end) Sunday, Sunday = 0.
	{vendor: "fanvil", when: notVCF, key: "phone/date/DSTStartWeek", want: "2", src: srcFanvilDST},
	{vendor: "fanvil", when: notVCF, key: "phone/date/DSTStartWday", want: "0", src: srcFanvilDST},
	{vendor: "fanvil", when: notVCF, key: "phone/date/DSTEndWday", want: "0", src: srcFanvilDST},

	// Fanvil legacy <VOIP_CONFIG_FILE>
	{vendor: "fanvil", when: isVCF, key: vcfLine + "Phone_Number", want: "201", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: vcfLine + "Register_User", want: "auth201", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: vcfLine + "Register_Pswd", want: "pw-201", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: vcfLine + "Register_Addr", want: "pbx.example.net", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, tr: "tcp", key: vcfLine + "Register_Port", want: "5060", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: vcfLine + "Enable_Reg", want: "1", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: vcfLine + "Proxy_Addr", want: "sbc.example.net", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, tr: "tcp", key: vcfLine + "Transport", want: "1", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, tr: "tls", key: vcfLine + "Transport", want: "2", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: vcfLine + "VoiceCodecMap", want: "G711U,G711A,G722", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, acct2: true, key: "SIP_CONFIG_MODULE/SIP_Line_List/SIP_Line_List_Entry[SIP2]/Phone_Number", want: "202", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, lang: "fr", key: "GLOBAL_CONFIG_MODULE/Language", want: "4", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: "GLOBAL_CONFIG_MODULE/Time_Zone", want: "-20", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: "GLOBAL_CONFIG_MODULE/SNTP_Server", want: "ntp.example.net", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: "AUTOUPDATE_CONFIG_MODULE/Download_Server_IP", want: refURLNoSlash, src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: "AUTOUPDATE_CONFIG_MODULE/Download_Protocol", want: "5", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: "MMI_CONFIG_MODULE/MMI_Account/MMI_Account_Entry[Account1]/Password", want: "Adm1n-pw", src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: "phone/display/DefaultLanguage", absent: true, src: srcFanvilVCF},
	{vendor: "fanvil", when: isVCF, key: "GLOBAL_CONFIG_MODULE/DST_Start_Wday", want: "0", src: srcFanvilDST},

	// Grandstream
	{vendor: "grandstream", key: "P271", want: "1", src: srcGS},
	{vendor: "grandstream", when: notDP, key: "P35", want: "201", src: srcGS},
	{vendor: "grandstream", when: notDP, key: "P36", want: "auth201", src: srcGS},
	{vendor: "grandstream", when: notDP, key: "P34", want: "pw-201", src: srcGS},
	{vendor: "grandstream", tr: "tcp", key: "P47", want: "pbx.example.net:5060", src: srcGS},
	{vendor: "grandstream", key: "P48", want: "sbc.example.net:5080", src: srcGS},
	{vendor: "grandstream", tr: "tcp", key: "P130", want: "1", src: srcGS},
	{vendor: "grandstream", tr: "tls", key: "P130", want: "2", src: srcGS},
	{vendor: "grandstream", key: "P32", want: "60", src: srcGS},
	{vendor: "grandstream", key: "P57", want: "0", src: srcGS},
	{vendor: "grandstream", key: "P58", want: "8", src: srcGS},
	{vendor: "grandstream", key: "P59", want: "9", src: srcGS},
	{vendor: "grandstream", when: notDP, acct2: true, key: "P401", want: "1", src: srcGS},
	{vendor: "grandstream", when: notDP, acct2: true, key: "P404", want: "202", src: srcGS},
	{vendor: "grandstream", when: notDP, acct2: true, key: "P406", want: "pw-202", src: srcGS},
	{vendor: "grandstream", when: notDP, acct2: true, tr: "tcp", key: "P448", want: "1", src: srcGS},
	{vendor: "grandstream", key: "P212", want: "2", src: srcGS},
	{vendor: "grandstream", lang: "fr", key: "P1362", want: "fr", src: srcGS},
	{vendor: "grandstream", key: "P2", want: "Adm1n-pw", src: srcGS},
	{vendor: "grandstream", when: gs1700, key: "P1701", want: "0", src: srcGS21},
	{vendor: "grandstream", when: gs1700, key: "P1801", want: "0", src: srcGS21},
	{vendor: "grandstream", when: gs1700, key: "P701", absent: true, src: srcGS21},
	{vendor: "grandstream", when: gs1700, key: "P801", absent: true, src: srcGS21},
	{vendor: "grandstream", when: isDP, key: "P4060", want: "201", src: srcGSDP},
	{vendor: "grandstream", when: isDP, key: "P4090", want: "auth201", src: srcGSDP},
	{vendor: "grandstream", when: isDP, key: "P4120", want: "pw-201", src: srcGSDP},
	{vendor: "grandstream", when: isDP, key: "P4180", want: "Ada Lovelace", src: srcGSDP},
	{vendor: "grandstream", when: isDP, key: "P4150", want: "0", src: srcGSDP},
	{vendor: "grandstream", when: isDP, key: "P27080", want: "1", src: srcGSDP},
	{vendor: "grandstream", when: isDP, key: "P4061", want: "202", src: srcGSDP},
	{vendor: "grandstream", when: isDP, key: "P27081", want: "2", src: srcGSDP},
	{vendor: "grandstream", when: isDP, key: "P4062", want: "", src: srcGSDP},
	{vendor: "grandstream", when: isDP, key: "P35", absent: true, src: srcGSDP},
	{vendor: "grandstream", when: gsEightSlots, key: "P98", want: "0", src: srcGS26},
	{vendor: "grandstream", when: gsEightSlots, acct2: true, key: "P458", want: "0", src: srcGS26},

	// Snom
	{vendor: "snom", when: snomSettings, key: "user_active[1]", want: "on", src: srcSnom},
	{vendor: "snom", when: snomSettings, key: "user_name[1]", want: "201", src: srcSnom},
	{vendor: "snom", when: snomSettings, key: "user_pname[1]", want: "auth201", src: srcSnom},
	{vendor: "snom", when: snomSettings, key: "user_pass[1]", want: "pw-201", src: srcSnom},
	{vendor: "snom", when: snomSettings, tr: "tcp", key: "user_host[1]", want: "pbx.example.net:5060", src: srcSnom},
	{vendor: "snom", when: snomSettings, tr: "tcp", key: "user_outbound[1]", want: "sbc.example.net:5080;transport=tcp", src: srcSnom},
	{vendor: "snom", when: snomSettings, tr: "tls", key: "user_outbound[1]", want: "sbc.example.net:5080;transport=tls", src: srcSnom},
	{vendor: "snom", when: snomSettings, key: "codec_priority_list[1]", want: "pcmu,pcma,g722,telephone-event", src: srcSnom},
	{vendor: "snom", when: snomSettings, acct2: true, key: "user_name[2]", want: "202", src: srcSnom},
	{vendor: "snom", when: snomSettings, lang: "fr", key: "language", want: "Français", src: srcSnom},
	{vendor: "snom", when: snomSettings, lang: "fr", key: "web_language", want: "Français", src: srcSnom},
	{vendor: "snom", when: snomSettings, key: "setting_server", want: refURL, src: srcSnom},
	{vendor: "snom", when: snomSettings, key: "timezone", want: "USA-5", src: srcSnom},
	{vendor: "snom", when: snomSettings, key: "http_pass", want: "Adm1n-pw", src: srcSnom},
	{vendor: "snom", when: snomDECT, key: "subscr_sip_hs_idx[1]", want: "1", src: srcSnomDECT},
	{vendor: "snom", when: snomDECT, key: "subscr_dect_ac_code[1]", want: "0201", src: srcSnomDECT},

	// Snom M100/M500 KLE <settings> modules
	{vendor: "snom", when: isKLE, key: "sip_account/idx[1]/sip_account_enable", want: "1", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "sip_account/idx[1]/user_id", want: "201", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "sip_account/idx[1]/authentication_name", want: "auth201", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "sip_account/idx[1]/authentication_access_password", want: "pw-201", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "sip_account/idx[1]/display_name", want: "Ada Lovelace", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "sip_account/idx[1]/label", want: "Ada", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "sip_account/idx[1]/primary_sip_server_address", want: "pbx.example.net", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, tr: "tcp", key: "sip_account/idx[1]/primary_registration_server_port", want: "5060", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "sip_account/idx[1]/primary_registration_expires", want: "3600", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "sip_account/idx[1]/primary_outbound_proxy_server_address", want: "sbc.example.net", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, tr: "tls", key: "sip_account/idx[1]/transport_mode", want: "tls", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "sip_account/idx[1]/codec_priority/idx[1]", want: "g711u", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "sip_account/idx[1]/codec_priority/idx[3]", want: "g722", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "sip_account/idx[1]/codec_priority/idx[4]", want: "none", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, acct2: true, key: "sip_account/idx[2]/user_id", want: "202", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "sip_account/idx[3]/sip_account_enable", want: "0", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "hs_settings/idx[1]/assigned_account", want: "1", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "hs_settings/idx[1]/default_account", want: "1", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "profile/admin/access_password", want: "Adm1n-pw", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "provisioning/server_address", want: refURL + "000413a1b2c3.xml", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "time_date/ntp_server_addr", want: "ntp.example.net", src: srcSnomKLE},
	{vendor: "snom", when: isKLE, key: "time_date/selected_timezone", want: "America/New_York", src: srcSnomKLE},
	// Snom m3 %KEY%:value
	{vendor: "snom", when: isM3, key: "SUBSCR_0_SIP_UA_DATA_SIP_NAME", want: "201", src: srcSnomM3},
	{vendor: "snom", when: isM3, key: "SUBSCR_0_UA_DATA_DISP_NAME", want: "Ada Lovelace", src: srcSnomM3},
	{vendor: "snom", when: isM3, key: "SUBSCR_0_UA_DATA_AUTH_NAME", want: "auth201", src: srcSnomM3},
	{vendor: "snom", when: isM3, key: "SUBSCR_0_UA_DATA_AUTH_PASS", want: "pw-201", src: srcSnomM3},
	{vendor: "snom", when: isM3, key: "SUBSCR_0_SIP_UA_DATA_SIP_NAME_ALIAS", want: "201", src: srcSnomM3},
	{vendor: "snom", when: isM3, acct2: true, key: "SUBSCR_1_SIP_UA_DATA_SIP_NAME", want: "202", src: srcSnomM3},
	{vendor: "snom", when: isM3, key: "SRV_0_SIP_UA_DATA_DOMAIN", want: "pbx.example.net", src: srcSnomM3},
	{vendor: "snom", when: isM3, key: "SRV_0_SIP_UA_DATA_PROXY_ADDR", want: "sbc.example.net", src: srcSnomM3},
	{vendor: "snom", when: isM3, key: "SRV_0_SIP_UA_DATA_SERVER_PORT", want: "5060", src: srcSnomM3},
	{vendor: "snom", when: isM3, key: "SRV_0_SIP_UA_DATA_REREG_TIME", want: "3600", src: srcSnomM3},
	{vendor: "snom", when: isM3, key: "SRV_0_SIP_UA_CODEC_PRIORITY", want: "0,1,0xFF", src: srcSnomM3},
	{vendor: "snom", when: isM3, key: "NETWORK_SNTP_SERVER", want: "ntp.example.net", src: srcSnomM3},
	{vendor: "snom", when: isM3, key: "MANAGEMENT_TRANSFER_PROTOCOL", want: "1", src: srcSnomM3},

	// Gigaset
	{vendor: "gigaset", when: notPF, key: "SipAccount.00001.UserName", want: "201", src: srcGigaset},
	{vendor: "gigaset", when: notPF, key: "SipAccount.00001.AuthName", want: "auth201", src: srcGigaset},
	{vendor: "gigaset", when: notPF, key: "SipAccount.00001.AuthPassword", want: "pw-201", src: srcGigaset},
	{vendor: "gigaset", when: notPF, key: "SipAccount.00001.ProviderId", want: "0", src: srcGigaset},
	{vendor: "gigaset", when: notPF, acct2: true, key: "SipAccount.00002.UserName", want: "202", src: srcGigaset},
	{vendor: "gigaset", when: notPF, key: "SipProvider.0.Domain", want: "pbx.example.net", src: srcGigaset},
	{vendor: "gigaset", when: notPF, tr: "tcp", key: "SipProvider.0.TransportProtocol", want: "2", src: srcGigaset},
	{vendor: "gigaset", when: notPF, tr: "tls", key: "SipProvider.0.TransportProtocol", want: "3", src: srcGigaset},
	{vendor: "gigaset", when: notPF, key: "SipProvider.0.OutboundProxyMode", want: "0", src: srcGigaset},
	{vendor: "gigaset", when: notPF, key: "oper:add_hs:00001/hs.RegStatus", want: "ToReg", src: srcGigaset},
	{vendor: "gigaset", when: notPF, key: "hs.00001.DECT_AC", want: "0201", src: srcGigaset},
	{vendor: "gigaset", when: notPF, key: "oper:update_dm:local/RegDuration", want: "900", src: srcGigaset},
	{vendor: "gigaset", when: notPF, key: "oper:update_dm:local/DMPpasswd", want: "Gigaset", src: srcGigaset},
	{vendor: "gigaset", when: notPF, key: "DmGlobal.0.TimeZone", want: "America/New_York", src: srcGigaset},
	{vendor: "gigaset", when: notPF, key: "WebUIAccounts.1.Password", want: "Adm1n-pw", src: srcGigaset},

	// Gigaset <ProviderFrame>: N510 IP PRO
	{vendor: "gigaset", when: isPF510, key: "MAC_ADDRESS", want: "7C2F80A1B2C3", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "PROFILE_NAME", want: "N510", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data3.aucS_SIP_LOGIN_ID", want: "auth201", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data1.aucS_SIP_PASSWORD", want: "pw-201", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data1.aucS_SIP_USER_ID", want: "201", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data1.aucS_SIP_DISPLAYNAME", want: "Ada Lovelace", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data1.aucS_SIP_REGISTRAR", want: "pbx.example.net", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data1.uiI_SIP_SERVER_PORT", want: "0x13c4", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data1.uiI_RE_REGISTRATION_TIMER", want: "0xe10", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data1.ucB_SIP_ACCOUNT_IS_ACTIVE_1", want: "0x1", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_Accounts.astAccounts[0].uiSendMask", want: "0x1", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, acct2: true, key: "BS_Accounts.astAccounts[1].uiReceiveMask", want: "0x2", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, acct2: true, key: "BS_IP_Data3.aucS_SIP_LOGIN_ID_2", want: "auth202", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, acct2: true, key: "BS_IP_Data1.ucB_SIP_ACCOUNT_IS_ACTIVE_2", want: "0x1", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data1.ucI_SIP_PREFERRED_VOCODER", want: "0x00,0x01,0x05", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data1.uiI_TIME_TIMEZONE", want: "0xd", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data1.ucB_TIME_USE_AUTOMATIC_DST", want: "0x1", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data1.aucS_TIME_NTP_SERVER", want: "ntp.example.net", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, lang: "fr", key: "BS_IP_Data1.ucI_HTTPLANGUAGE", want: "0x9", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "S_CONFIGFILE_URL", want: "prov.example.net/p/" + refToken + "/7C2F80A1B2C3.xml", src: srcGigasetN510},
	{vendor: "gigaset", when: isPF510, key: "BS_IP_Data1.aucS_DATA_SERVER[0]", want: "prov.example.net/p/" + refToken + "/", src: srcGigasetN510},
	// Gigaset <ProviderFrame>: N720 DM/IP PRO
	{vendor: "gigaset", when: isPF720, key: "PROFILE_NAME", want: "N720", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_VOIP_Data.astVoipAccounts[0].aucS_SIP_LOGIN_ID[0]", want: "auth201", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_VOIP_Data.astVoipAccounts[0].aucS_SIP_PASSWORD[0]", want: "pw-201", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_VOIP_Data.astVoipAccounts[0].aucS_SIP_USER_ID[0]", want: "201", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_VOIP_Data.astVoipAccounts[0].ucB_SIP_ACCOUNT_IS_ACTIVE_1", want: "1", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, acct2: true, key: "BS_VOIP_Data.astVoipAccounts[1].aucS_SIP_LOGIN_ID[0]", want: "auth202", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_VOIP_Data.astVoipProviders[0].aucSIP_REGISTRAR[%]", want: "pbx.example.net", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_VOIP_Data.astVoipProviders[0].uiSIP_REGISTRAR_PORT", want: "0x13c4", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_VOIP_Data.astVoipProviders[0].ucSIP_PREFERRED_TRANSPORT_LAYER", want: "17", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_VOIP_Data.astVoipProviders[0].uiRE_REGISTRATION_TIMER", want: "0xe10", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_VOIP_Data.astVoipProviders[0].aucOUTBOUND_PROXY[%]", want: "sbc.example.net", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_VOIP_Data.astVoipAccounts[%].aucI_SIP_PREFERRED_VOCODER[%]", want: "0x00,0x01,0x05,0xff", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_CUSTOM.WebUIPassword", want: "Adm1n-pw", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_IP_Data.uiI_TIME_TIMEZONE", want: "0xd", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, key: "BS_IP_Data.aucS_TIME_NTP_SERVER[%]", want: "ntp.example.net", src: srcGigasetN720},
	{vendor: "gigaset", when: isPF720, lang: "fr", key: "BS_IP_Data.ucI_HTTPLANGUAGE", want: "0x9", src: srcGigasetN720},

	// Htek
	{vendor: "htek", key: "P271", want: "1", src: srcHtek},
	{vendor: "htek", key: "P35", want: "201", src: srcHtek},
	{vendor: "htek", key: "P36", want: "auth201", src: srcHtek},
	{vendor: "htek", key: "P34", want: "pw-201", src: srcHtek},
	{vendor: "htek", tr: "tcp", key: "P47", want: "pbx.example.net:5060", src: srcHtek},
	{vendor: "htek", tr: "tcp", key: "P130", want: "1", src: srcHtek},
	{vendor: "htek", tr: "tls", key: "P130", want: "2", src: srcHtek},
	{vendor: "htek", key: "P32", want: "1", src: srcHtek}, // 3600 s = 1 hour
	{vendor: "htek", acct2: true, key: "P401", want: "1", src: srcHtek},
	{vendor: "htek", acct2: true, key: "P735", want: "202", src: srcHtek},
	{vendor: "htek", key: "P237", want: refURL, src: srcHtek},
	{vendor: "htek", key: "P212", want: "3", src: srcHtek},
	{vendor: "htek", key: "P57", want: "0", src: srcHtek},
	{vendor: "htek", key: "P58", want: "8", src: srcHtek},
	{vendor: "htek", key: "P59", want: "9", src: srcHtek},

	// Poly
	{vendor: "poly", key: "reg.1.address", want: "201", src: srcPoly},
	{vendor: "poly", key: "reg.1.auth.userId", want: "auth201", src: srcPoly},
	{vendor: "poly", key: "reg.1.auth.password", want: "pw-201", src: srcPoly},
	{vendor: "poly", key: "reg.1.server.1.address", want: "pbx.example.net", src: srcPoly},
	{vendor: "poly", tr: "tcp", key: "reg.1.server.1.transport", want: "TCPOnly", src: srcPoly},
	{vendor: "poly", tr: "tls", key: "reg.1.server.1.transport", want: "TLS", src: srcPoly},
	{vendor: "poly", acct2: true, key: "reg.2.address", want: "202", src: srcPoly},
	{vendor: "poly", key: "voice.codecPref.G711_Mu", want: "1", src: srcPoly},
	{vendor: "poly", key: "voice.codecPref.G711_A", want: "2", src: srcPoly},
	{vendor: "poly", key: "voice.codecPref.G722", want: "3", src: srcPoly},
	{vendor: "poly", key: "voice.codecPref.G729_AB", want: "0", src: srcPoly},
	{vendor: "poly", key: "voice.codecPref.Opus", want: "0", src: srcPolyCodecs},
	{vendor: "poly", key: "voice.codecPref.G7221.32kbps", want: "0", src: srcPolyCodecs},
	{vendor: "poly", key: "voice.codecPref.G7221_C.48kbps", want: "0", src: srcPolyCodecs},
	{vendor: "poly", key: "voice.codecPref.Siren14.48kbps", want: "0", src: srcPolyCodecs},
	{vendor: "poly", key: "voice.codecPref.Siren22.64kbps", want: "0", src: srcPolyCodecs},
	{vendor: "poly", lang: "fr", key: "lcl.ml.lang", want: "French_France", src: srcPoly},
	{vendor: "poly", key: "device.prov.serverName", want: refURL, src: srcPoly},
	{vendor: "poly", key: "tcpIpApp.sntp.gmtOffset", want: "-18000", src: srcPoly},
	// America/New_York: 2nd Sunday of March (date 8), 1st Sunday of November (date 1); 1 = Sunday.
	{vendor: "poly", key: "tcpIpApp.sntp.daylightSavings.start.date", want: "8", src: srcPolyDST},
	{vendor: "poly", key: "tcpIpApp.sntp.daylightSavings.start.dayOfWeek", want: "1", src: srcPolyDST},
	{vendor: "poly", key: "tcpIpApp.sntp.daylightSavings.stop.date", want: "1", src: srcPolyDST},
	{vendor: "poly", key: "tcpIpApp.sntp.daylightSavings.stop.dayOfWeek", want: "1", src: srcPolyDST},

	// Cisco MPP and SPA
	{vendor: "cisco", when: ciscoFlat, key: "Line_Enable_1_", want: "Yes", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, key: "User_ID_1_", want: "201", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, key: "Auth_ID_1_", want: "auth201", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, key: "Password_1_", want: "pw-201", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, tr: "tcp", key: "Proxy_1_", want: "pbx.example.net:5060", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, tr: "tcp", key: "SIP_Transport_1_", want: "TCP", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, tr: "tls", key: "SIP_Transport_1_", want: "TLS", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, key: "Register_Expires_1_", want: "3600", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, key: "Outbound_Proxy_1_", want: "sbc.example.net:5080", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, acct2: true, key: "User_ID_2_", want: "202", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, key: "Preferred_Codec_1_", want: "G711u", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, key: "Second_Preferred_Codec_1_", want: "G711a", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, key: "Third_Preferred_Codec_1_", want: "G722", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, key: "Time_Zone", want: "GMT-05:00", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, key: "Profile_Rule", want: refURL + "$MA.xml", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, lang: "en", key: "Language_Selection", want: "English-US", src: srcCisco},
	{vendor: "cisco", when: ciscoFlat, key: "Admin_Password", want: "Adm1n-pw", src: srcCisco},
	// Cisco 7940/7960 key: "value"
	{vendor: "cisco", when: isSIP79, key: "line1_name", want: "201", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "line1_authname", want: "auth201", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "line1_password", want: "pw-201", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "line1_displayname", want: "Ada Lovelace", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "line1_shortname", want: "Ada", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, acct2: true, key: "line2_name", want: "202", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "proxy1_address", want: "pbx.example.net", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "proxy1_port", want: "5060", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "outbound_proxy", want: "sbc.example.net", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "outbound_proxy_port", want: "5080", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "proxy_register", want: "1", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "timer_register_expires", want: "3600", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "preferred_codec", want: "g711ulaw", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "sntp_server", want: "ntp.example.net", src: srcCisco79},
	{vendor: "cisco", when: isSIP79, key: "phone_password", want: "Adm1n-pw", src: srcCisco79},
	// Cisco 79x1/797x/894x SEP<MAC>.cnf.xml <device>
	{vendor: "cisco", when: isSEP, key: "deviceProtocol", want: "SIP", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "line[1]/name", want: "201", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "line[1]/authName", want: "auth201", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "line[1]/authPassword", want: "pw-201", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "line[1]/displayName", want: "Ada Lovelace", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "line[1]/featureLabel", want: "Ada", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "line[1]/featureID", want: "9", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "line[1]/proxy", want: "pbx.example.net", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "line[1]/port", want: "5060", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "line[1]/contact", want: "201", src: srcCiscoSEPWz},
	{vendor: "cisco", when: isSEP, acct2: true, key: "line[2]/name", want: "202", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "devicePool/callManagerGroup/members/member/callManager/processNodeName", want: "pbx.example.net", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "devicePool/callManagerGroup/members/member/callManager/ports/sipPort", want: "5060", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "devicePool/dateTimeSetting/timeZone", want: "Eastern Standard/Daylight Time", src: srcCiscoSEPWz},
	{vendor: "cisco", when: isSEP, key: "devicePool/dateTimeSetting/ntps/ntp/name", want: "ntp.example.net", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "devicePool/dateTimeSetting/ntps/ntp/ntpMode", want: "Unicast", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "sipProfile/sipProxies/outboundProxy", want: "sbc.example.net", src: srcCiscoSEPWz},
	{vendor: "cisco", when: isSEP, key: "sipProfile/sipProxies/outboundProxyPort", want: "5080", src: srcCiscoSEPWz},
	{vendor: "cisco", when: isSEP, key: "sipProfile/sipProxies/registerWithProxy", want: "true", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "sipProfile/sipStack/timerRegisterExpires", want: "3600", src: srcCiscoSEP},
	{vendor: "cisco", when: isSEP, key: "sipProfile/phoneLabel", want: "Ada Lovelace", src: srcCiscoSEPWz},
	{vendor: "cisco", when: isSEP, key: "commonProfile/phonePassword", want: "Adm1n-pw", src: srcCiscoSEPWz},
	{vendor: "cisco", when: isSEP, tr: "tcp", key: "transportLayerProtocol", want: "1", src: srcCiscoSEPWz},
	{vendor: "cisco", when: isSEP, tr: "udp", key: "transportLayerProtocol", want: "2", src: srcCiscoSEPWz},
	{vendor: "cisco", when: isSEP, lang: "en", key: "userLocale/name", want: "i18n/english_united_states", src: srcCiscoSEPWz},
	{vendor: "cisco", when: isSEP, lang: "en", key: "userLocale/langCode", want: "en", src: srcCiscoSEPWz},
	{vendor: "cisco", when: isSEP, lang: "en", key: "networkLocale", want: "i18n/united_states", src: srcCiscoSEPWz},
	{vendor: "yealink", key: "account.1.display_name", want: "Ada Lovelace", src: srcYealink},
	{vendor: "yealink", key: "account.1.label", want: "Ada", src: srcYealink},
	{vendor: "grandstream", when: notDP, key: "P3", want: "Ada Lovelace", src: srcGS},
	{vendor: "grandstream", key: "P194", want: "1", src: srcGSPoll},   // 1 = every P193 minutes
	{vendor: "grandstream", key: "P193", want: "360", src: srcGSPoll}, // 6 h
	{vendor: "htek", key: "P194", want: "1", src: srcHtekPoll},
	{vendor: "htek", key: "P193", want: "360", src: srcHtekPoll},
	{vendor: "htek", key: "P75", want: "2", src: srcHtekDST}, // DST auto
	{vendor: "grandstream", when: notDP, key: "P270", want: "Ada", src: srcGS},
	{vendor: "snom", when: snomSettings, key: "user_realname[1]", want: "Ada Lovelace", src: srcSnom},
	{vendor: "gigaset", when: notPF, key: "SipAccount.00001.DisplayName", want: "Ada Lovelace", src: srcGigaset},
	{vendor: "htek", key: "P3", want: "Ada Lovelace", src: srcHtek},
	{vendor: "htek", key: "P20000", want: "Ada", src: srcHtek},
	{vendor: "poly", key: "reg.1.displayName", want: "Ada Lovelace", src: srcPoly},
	{vendor: "poly", key: "reg.1.label", want: "Ada", src: srcPoly},
	{vendor: "cisco", when: ciscoFlat, key: "Display_Name_1_", want: "Ada Lovelace", src: srcCisco},
	{vendor: "fanvil", when: notVCF, key: "sip/line[1]/DisplayName", want: "Ada Lovelace", src: srcFanvilNew},
	{vendor: "fanvil", when: isVCF, key: vcfLine + "Display_Name", want: "Ada Lovelace", src: srcFanvilVCF},
}

const vcfLine = "SIP_CONFIG_MODULE/SIP_Line_List/SIP_Line_List_Entry[SIP1]/"

// refProfile is the two-account profile with every setting a seed profile
// carries (provisioning URL and poll, NTP, time zone, language, codecs, web
// password, registrar with outbound proxy and expiry).
func refProfile(m *catalog.Model, transport string) *provisioningv1.ProvisioningProfile {
	p := scenario("single", m)
	p.ProvisioningUrl = refURL
	p.PollInterval = durationpb.New(6 * time.Hour)
	p.TimeZone = "America/New_York"
	p.Language = firstLang(m, "fr", "en")
	p.WebPassword = "Adm1n-pw"
	p.Codecs = []provisioningv1.Codec{provisioningv1.Codec_CODEC_PCMU, provisioningv1.Codec_CODEC_PCMA, provisioningv1.Codec_CODEC_G722}
	if !slices.Contains(m.Codecs, "g722") { // Snom m3: no G.722
		p.Codecs = p.Codecs[:2]
	}
	p.SipServer = &provisioningv1.SipServer{Host: "pbx.example.net", Port: 5060, Transport: provisioningv1.Transport_TRANSPORT_TCP,
		OutboundProxyHost: "sbc.example.net", OutboundProxyPort: 5080, RegistrationExpiry: durationpb.New(time.Hour)}
	switch transport {
	case "tls":
		p.SipServer.Transport, p.SipServer.Port = provisioningv1.Transport_TRANSPORT_TLS, 5061
	case "udp":
		p.SipServer.Transport = provisioningv1.Transport_TRANSPORT_UDP
	}
	p.Lines = []*provisioningv1.Line{{Index: 1, Extension: "201", AuthUser: "auth201", Password: "pw-201", DisplayName: "Ada Lovelace", Label: "Ada"}}
	if m.SIPAccounts >= 2 {
		p.Lines = append(p.Lines, &provisioningv1.Line{Index: 2, Extension: "202", AuthUser: "auth202", Password: "pw-202", DisplayName: "Alan Turing", Label: "Alan"})
	}
	return p
}

func TestReferenceTable(t *testing.T) {
	s := loadDefault(t)
	checked := map[*refRow]int{}
	for _, m := range s.Catalog.Models {
		var secretFile string
		for _, f := range m.Files {
			if f.Secrets {
				secretFile = f.Pattern
			}
		}
		var trs []string // TCP and TLS where the model has them, else UDP (Gigaset <ProviderFrame> bases)
		for _, tr := range []string{"tcp", "tls"} {
			if m.SupportsTransport(tr) {
				trs = append(trs, tr)
			}
		}
		if isSEP(m) { // TCP and UDP: the SEP format numbers both
			trs = append(trs, "udp")
		}
		if len(trs) == 0 {
			trs = []string{"udp"}
		}
		for _, tr := range trs {
			p := refProfile(m, tr)
			name := strings.NewReplacer("{mac}", p.Mac, "{MAC}", strings.ToUpper(p.Mac)).Replace(secretFile)
			r, err := s.Render(p, name, goldenNow)
			if err != nil {
				t.Errorf("%s %s: %v", m.Name(), tr, err)
				continue
			}
			kv, err := parseFile(m.Vendor, name, r.Content)
			if err != nil {
				t.Errorf("%s %s %s: %v", m.Name(), tr, name, err)
				continue
			}
			rootVCF := strings.Contains(string(r.Content), "<VOIP_CONFIG_FILE>")
			for i := range refTable {
				row := &refTable[i]
				if row.vendor != m.Vendor || (row.when != nil && !row.when(m)) || (row.acct2 && m.SIPAccounts < 2) ||
					(row.tr != "" && row.tr != tr) || (row.lang != "" && row.lang != p.Language) {
					continue
				}
				checked[row]++
				got, ok := kv[row.key]
				if row.key == "VOIP_CONFIG_FILE" { // the root element, not a key
					got, ok = "", rootVCF
				}
				switch {
				case row.absent && ok:
					t.Errorf("%s %s %s: %s is written (%q); the reference has no such key here (%s)", m.Name(), tr, name, row.key, got, row.src)
				case !row.absent && !ok:
					t.Errorf("%s %s %s: %s missing, want %q (%s)", m.Name(), tr, name, row.key, row.want, row.src)
				case !row.absent && got != row.want:
					t.Errorf("%s %s %s: %s = %q, want %q (%s)", m.Name(), tr, name, row.key, got, row.want, row.src)
				}
			}
		}
	}
	for i := range refTable {
		if checked[&refTable[i]] == 0 {
			t.Errorf("reference row %s %s applied to no model", refTable[i].vendor, refTable[i].key)
		}
	}
}

// Every source the table cites is listed in the README's reference table.
func TestReferenceSourcesInREADME(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, row := range refTable {
		for _, part := range strings.Split(row.src, "; ") {
			if seen[part] {
				continue
			}
			seen[part] = true
			if !strings.Contains(string(b), part) {
				t.Errorf("README.md does not cite %q", part)
			}
		}
	}
}

// File names each family asks for, from the references.
func TestReferenceFileNames(t *testing.T) {
	s := loadDefault(t)
	cases := []struct {
		vendor, model string
		want          []string // in request order; {mac} is the MAC
		src           string
	}{
		// $PSN as the admin guide gives it ("7861") and as Wazo names the file ("7861-3PCC.xml").
		{"cisco", "CP-7861-3PCC", []string{"7861-3PCC.xml", "7861.xml", "{mac}.xml"}, "wazo_cisco_sip/v11_3_1/entry.py _COMMON_FILENAMES; Cisco 7800 MPP admin guide $PSN"},
		{"cisco", "CP-8851-3PCC", []string{"8851-3PCC.xml", "8851.xml", "{mac}.xml"}, "wazo_cisco_sip/v11_3_1/entry.py"},
		{"cisco", "SPA504G", []string{"spa504G.cfg", "{mac}.xml"}, "wazo_cisco_spa/v7_5_5/entry.py _COMMON_FILENAMES"},
		{"htek", "UC926", []string{"cfg0010.xml", "cfg{mac}.xml"}, "wazo_htek/v2_0_4_6_41/entry.py COMMON_FILES"},
		{"htek", "UC862", []string{"cfg0000.xml", "cfg{mac}.xml"}, "wazo_htek/v2_0_4_4_58/entry.py COMMON_FILES"},
		{"yealink", "T46S", []string{"y000000000066.cfg", "{mac}.cfg"}, "FP yealink/t46s"},
		{"yealink", "T73U", []string{"y000000000186.cfg", "{mac}.cfg"}, "FP yealink/t73u"},
		{"fanvil", "X4", []string{"f0X4hw1.100.cfg", "{mac}.cfg"}, "wazo_fanvil/serie_x/entry.py COMMON_FILES"},
		{"grandstream", "GXP2170", []string{"cfg{mac}.xml"}, "wazo_grandstream/common/common.py _dev_specific_filename"},
	}
	const mac = "0011223344ab"
	for _, c := range cases {
		m, ok := s.Catalog.Model(c.vendor, c.model)
		if !ok {
			t.Errorf("%s/%s not in the catalog", c.vendor, c.model)
			continue
		}
		var got []string
		for _, f := range m.Files {
			got = append(got, strings.ReplaceAll(f.Name(mac), mac, "{mac}"))
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s/%s files %v, want %v (%s)", c.vendor, c.model, got, c.want, c.src)
		}
		for _, w := range c.want {
			if _, ok := m.FindFile(strings.ReplaceAll(w, "{mac}", mac), mac); !ok {
				t.Errorf("%s/%s does not serve %s", c.vendor, c.model, w)
			}
		}
	}
}

// Htek asks for cfg<code>.xml before cfg<mac>.xml and, by one revision of its
// wiki, may stop after the first: the common file carries the accounts too.
func TestHtekCommonFileComplete(t *testing.T) {
	s := loadDefault(t)
	for _, m := range s.Catalog.Models {
		if m.Vendor != "htek" || len(m.Files) < 2 {
			continue
		}
		p := refProfile(m, "tcp")
		first := m.Files[0]
		r, err := s.Render(p, first.Name(p.Mac), goldenNow)
		if err != nil {
			t.Fatalf("%s: %v", m.Name(), err)
		}
		kv, err := parseFile("htek", first.Pattern, r.Content)
		if err != nil {
			t.Fatal(err)
		}
		if kv["P35"] != "201" || kv["P34"] != "pw-201" || !r.Secrets {
			t.Errorf("%s %s: account 1 missing from the first file (P35=%q, secrets=%v)", m.Name(), first.Pattern, kv["P35"], r.Secrets)
		}
	}
}

// Yealink's LCD (lang.gui) and web (lang.wui) language lists differ: a value
// only one list has is written to that key only.
func TestYealinkLanguageLists(t *testing.T) {
	s := loadDefault(t)
	m, _ := s.Catalog.Model("yealink", "T46U")
	cases := []struct{ lang, gui, wui string }{
		{"de", "German", "Deutsch"},      // FP cp860: web list says Deutsch
		{"fr-CA", "French_CA", "French"}, // GUI pack French_CA; web has French only
		{"cs", "", "Czech"},              // no Czech GUI pack in WZ v83/var/tftpboot/lang
		{"zh-TW", "Chinese_T", ""},       // not in the web list
		{"pt-BR", "Portuguese_LA", "Portuguese"},
	}
	for _, c := range cases {
		p := refProfile(m, "tcp")
		p.Language = c.lang
		r, err := s.Render(p, p.Mac+".cfg", goldenNow)
		if err != nil {
			t.Fatalf("%s: %v", c.lang, err)
		}
		kv, _ := parseFile("yealink", "", r.Content)
		gui, gok := kv["lang.gui"]
		wui, wok := kv["lang.wui"]
		if gui != c.gui || gok != (c.gui != "") || wui != c.wui || wok != (c.wui != "") {
			t.Errorf("%s: lang.gui=%q (%v) lang.wui=%q (%v), want %q/%q", c.lang, gui, gok, wui, wok, c.gui, c.wui)
		}
	}
}

// Fanvil's two formats number the provisioning protocol differently: legacy
// Download_Protocol 2 = HTTP (WZ plugins/wazo_fanvil/common/templates/base.tpl
// with an http:// URL), sysConf FlashProtocol 4 = HTTP (base-new.tpl); 5 = HTTPS
// in both (FP fanvil/x4, x4u).
// renderRef renders model's per-phone (secret-carrying) file for p and parses it.
func renderRef(t *testing.T, s *Set, vendor, model string, p func(*catalog.Model) *provisioningv1.ProvisioningProfile) map[string]string {
	t.Helper()
	m, ok := s.Catalog.Model(vendor, model)
	if !ok {
		t.Fatalf("no model %s %s", vendor, model)
	}
	prof := p(m)
	var name string
	for _, f := range m.Files {
		if f.Secrets {
			name = strings.NewReplacer("{mac}", prof.Mac, "{MAC}", strings.ToUpper(prof.Mac)).Replace(f.Pattern)
		}
	}
	r, err := s.Render(prof, name, goldenNow)
	if err != nil {
		t.Fatalf("%s %s: %v", vendor, model, err)
	}
	kv, err := parseFile(vendor, name, r.Content)
	if err != nil {
		t.Fatalf("%s %s %s: %v", vendor, model, name, err)
	}
	return kv
}

// Grandstream P193 takes 60-86400 minutes (srcGSPoll: "Number: 60-86400"); a
// shorter poll_interval is written as the minimum, not as a value the phone
// would refuse. Before issue #13 a 30-minute poll wrote P193 30.
func TestGrandstreamPollMinimum(t *testing.T) {
	s := loadDefault(t)
	for _, model := range []string{"GXP1610", "GRP2614", "GXP2170", "DP750"} {
		for _, c := range []struct {
			poll time.Duration
			want string
		}{{30 * time.Minute, "60"}, {59*time.Minute + time.Second, "60"}, {61 * time.Minute, "61"}, {720 * time.Hour, "43200"}} {
			kv := renderRef(t, s, "grandstream", model, func(m *catalog.Model) *provisioningv1.ProvisioningProfile {
				p := refProfile(m, "tcp")
				p.PollInterval = durationpb.New(c.poll)
				return p
			})
			if kv["P194"] != "1" || kv["P193"] != c.want {
				t.Errorf("%s poll %s: P194 = %q, P193 = %q; want 1, %s", model, c.poll, kv["P194"], kv["P193"], c.want)
			}
		}
	}
}

// Accounts 5 and 6 of these models live in the P1701…/P1801… blocks, not P701/P801:
// fusionpbx/fusionpbx resources/templates/provision/grandstream/<dir>/{$mac}.xml writes
// "Account Active" P1701 for account 5 and P1801 for account 6, SIP User ID P1704/P1804.
// Before issue #13 the catalog gave GXP2200, GXP3240, GXV3240 and GXV3275 no gs_blocks,
// so their accounts 5-6 went to P701/P801, keys those phones do not document.
func TestGrandstreamAccountBlocks5And6(t *testing.T) {
	s := loadDefault(t)
	for model, dir := range map[string]string{"GXP2160": "gxp21xx", "GXP2170": "gxp21xx", "GXP2200": "gxp2200",
		"GXP3240": "gxp3240", "GXV3240": "gxv3240", "GXV3275": "gxv3275"} {
		kv := renderRef(t, s, "grandstream", model, func(m *catalog.Model) *provisioningv1.ProvisioningProfile {
			p := refProfile(m, "tcp")
			for i := len(p.Lines) + 1; i <= 6; i++ {
				p.Lines = append(p.Lines, &provisioningv1.Line{Index: int32(i), Extension: fmt.Sprintf("20%d", i),
					Password: fmt.Sprintf("pw-20%d", i), DisplayName: fmt.Sprintf("User %d", i)})
			}
			return p
		})
		for k, want := range map[string]string{"P1701": "1", "P1704": "205", "P1706": "pw-205", "P1801": "1", "P1804": "206", "P1806": "pw-206"} {
			if kv[k] != want {
				t.Errorf("%s (FP %s): %s = %q, want %q", model, dir, k, kv[k], want)
			}
		}
		for _, k := range []string{"P701", "P704", "P801", "P804"} {
			if v, ok := kv[k]; ok {
				t.Errorf("%s (FP %s): %s = %q written; the reference has accounts 5-6 in P1701/P1801", model, dir, k, v)
			}
		}
	}
}

// Opus is 123 in Grandstream's P57.. choice slots
// (fusionpbx/fusionpbx resources/templates/provision/grandstream/gxv3240/{$mac}.xml).
func TestGrandstreamOpusCode(t *testing.T) {
	s := loadDefault(t)
	kv := renderRef(t, s, "grandstream", "GRP2614", func(m *catalog.Model) *provisioningv1.ProvisioningProfile {
		p := refProfile(m, "tcp")
		p.Codecs = []provisioningv1.Codec{provisioningv1.Codec_CODEC_OPUS, provisioningv1.Codec_CODEC_PCMU}
		return p
	})
	if kv["P57"] != "123" || kv["P58"] != "0" {
		t.Errorf("P57 = %q, P58 = %q; want 123, 0", kv["P57"], kv["P58"])
	}
}

// Cisco MPP and SPA: a preferred-codec slot without a codec is "Unspecified" (srcCisco).
func TestCiscoUnusedCodecSlots(t *testing.T) {
	s := loadDefault(t)
	for _, model := range []string{"CP-8851-3PCC", "SPA504G"} {
		kv := renderRef(t, s, "cisco", model, func(m *catalog.Model) *provisioningv1.ProvisioningProfile {
			p := refProfile(m, "tcp")
			p.Codecs = []provisioningv1.Codec{provisioningv1.Codec_CODEC_PCMA}
			return p
		})
		if kv["Preferred_Codec_1_"] != "G711a" || kv["Second_Preferred_Codec_1_"] != "Unspecified" || kv["Third_Preferred_Codec_1_"] != "Unspecified" {
			t.Errorf("%s: codecs %q, %q, %q; want G711a, Unspecified, Unspecified", model,
				kv["Preferred_Codec_1_"], kv["Second_Preferred_Codec_1_"], kv["Third_Preferred_Codec_1_"])
		}
	}
}

func TestFanvilProvisioningProtocol(t *testing.T) {
	s := loadDefault(t)
	for _, c := range []struct{ model, url, key, want string }{
		{"X4", "http://prov.example.net/p/" + refToken + "/", "AUTOUPDATE_CONFIG_MODULE/Download_Protocol", "2"},
		{"X4", refURL, "AUTOUPDATE_CONFIG_MODULE/Download_Protocol", "5"},
		{"X4U", "http://prov.example.net/p/" + refToken + "/", "ap/FlashProtocol", "4"},
		{"X4U", refURL, "ap/FlashProtocol", "5"},
	} {
		m, _ := s.Catalog.Model("fanvil", c.model)
		p := refProfile(m, "tcp")
		p.ProvisioningUrl = c.url
		r, err := s.Render(p, p.Mac+".cfg", goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		kv, _ := parseFile("fanvil", "", r.Content)
		if kv[c.key] != c.want {
			t.Errorf("%s %s: %s = %q, want %q", c.model, c.url, c.key, kv[c.key], c.want)
		}
	}
}

// srcSnomLang: Snom's language pack names (gui_lang_PT.xml is "Portugues").
const srcSnomLang = "amooma/GS3 opt/gemeinschaft/htdocs/prov/snom/settings.php"

// Snom's language and web_language take the pack's name; Portuguese is
// "Portugues", without the accent (srcSnomLang), for every Snom family.
func TestSnomLanguageNames(t *testing.T) {
	s := loadDefault(t)
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), srcSnomLang) {
		t.Errorf("README.md does not cite %q", srcSnomLang)
	}
	for _, model := range []string{"D785", "370", "PA1", "M700"} {
		m, ok := s.Catalog.Model("snom", model)
		if !ok {
			t.Fatalf("snom %s not in the catalog", model)
		}
		for lang, want := range map[string]string{"pt": "Portugues", "pt-BR": "Portugues", "es": "Espanol", "de": "Deutsch"} {
			p := refProfile(m, "tcp")
			p.Language = lang
			r, err := s.Render(p, strings.ToUpper(p.Mac)+".xml", goldenNow)
			if err != nil {
				t.Fatalf("%s %s: %v", model, lang, err)
			}
			kv, err := parseFile("snom", "", r.Content)
			if err != nil {
				t.Fatal(err)
			}
			if kv["language"] != want || kv["web_language"] != want {
				t.Errorf("%s %s: language=%q web_language=%q, want %q (%s)", model, lang, kv["language"], kv["web_language"], want, srcSnomLang)
			}
		}
	}
}

// The SEP<MAC>.cnf.xml timeZone takes the name of Wazo's _ZONE_MAP entry with
// the zone's rules (srcCiscoSEPWz), the later entry winning as in Wazo's dict;
// a zone no entry matches is left to the phone, with a comment.
func TestCiscoSEPTimeZones(t *testing.T) {
	s := loadDefault(t)
	m, _ := s.Catalog.Model("cisco", "7962G")
	for zone, want := range map[string]string{
		"Europe/Berlin":    "Central Europe Standard/Daylight Time", // same rules as Europe/Paris
		"America/New_York": "Eastern Standard/Daylight Time",        // US/Eastern
		"America/Phoenix":  "US Mountain Standard Time",             // Etc/GMT+7, no DST
		"Asia/Kolkata":     "India Standard Time",                   // Asia/Calcutta
		"Australia/Sydney": "Tasmania Standard/Daylight Time",       // ACT and Tasmania share the rules; Tasmania comes later
		"UTC":              "Greenwich Standard Time",
		"Asia/Kathmandu":   "", // +05:45: no entry
		"America/Santiago": "", // its own DST rule
	} {
		p := refProfile(m, "tcp")
		p.TimeZone = zone
		r, err := s.Render(p, "SEP"+strings.ToUpper(p.Mac)+".cnf.xml", goldenNow)
		if err != nil {
			t.Fatalf("%s: %v", zone, err)
		}
		kv, err := parseFile("cisco", "SEP.cnf.xml", r.Content)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := kv["devicePool/dateTimeSetting/timeZone"]
		if got != want || ok != (want != "") {
			t.Errorf("%s: timeZone %q (written %v), want %q (%s)", zone, got, ok, want, srcCiscoSEPWz)
		}
		if want == "" && !strings.Contains(string(r.Content), "the phone keeps its own") {
			t.Errorf("%s: no comment for the unmatched zone", zone)
		}
	}
}
