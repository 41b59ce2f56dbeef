/** Frames no client should send, each with the error code Parley must answer with. */
const big = (n: number) => 'x'.repeat(n);
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

export const BAD_FRAMES: { name: string; frame: string | Buffer; code: string }[] = [
  // Not JSON, or not an object
  { name: 'truncated JSON', frame: '{"action":"sendmessage",', code: 'bad_json' },
  { name: 'truncated string', frame: '{"action":"sendmessage","message":"hel', code: 'bad_json' },
  { name: 'trailing garbage', frame: '{"action":"ping"} x', code: 'bad_json' },
  { name: 'single quotes', frame: "{'action':'ping'}", code: 'bad_json' },
  { name: 'plain text', frame: 'hello, everyone!', code: 'bad_json' },
  { name: 'JSON array', frame: '[{"action":"ping"}]', code: 'bad_json' },
  { name: 'JSON string', frame: '"sendmessage"', code: 'bad_json' },
  { name: 'JSON number', frame: '42', code: 'bad_json' },
  { name: 'JSON null', frame: 'null', code: 'bad_json' },
  { name: 'JSON true', frame: 'true', code: 'bad_json' },
  { name: 'whitespace only', frame: '   ', code: 'bad_json' },
  { name: 'NaN literal', frame: '{"action":"history","room":"lobby","limit":NaN}', code: 'bad_json' },
  { name: 'deep nesting', frame: deep(5000), code: 'bad_json' },
  { name: 'deeply nested object value', frame: `{"action":"sendmessage","message":${deep(2000)}}`, code: 'bad_request' },
  // Binary
  { name: 'binary frame', frame: Buffer.from([0, 1, 2, 3]), code: 'unsupported_frame' },
  { name: 'binary JSON', frame: Buffer.from('{"action":"ping"}'), code: 'unsupported_frame' },
  // Missing or wrong action
  { name: 'no action', frame: '{"message":"hi"}', code: 'bad_request' },
  { name: 'empty object', frame: '{}', code: 'bad_request' },
  { name: 'numeric action', frame: '{"action":42}', code: 'bad_request' },
  { name: 'null action', frame: '{"action":null}', code: 'bad_request' },
  { name: 'array action', frame: '{"action":["sendmessage"]}', code: 'bad_request' },
  { name: 'unknown action', frame: '{"action":"deleteeverything"}', code: 'unknown_action' },
  { name: 'empty action', frame: '{"action":""}', code: 'unknown_action' },
  { name: '$connect as action', frame: '{"action":"$connect"}', code: 'unknown_action' },
  { name: '__proto__ as action', frame: '{"action":"__proto__"}', code: 'unknown_action' },
  { name: 'constructor as action', frame: '{"action":"constructor"}', code: 'unknown_action' },
  { name: 'toString as action', frame: '{"action":"toString"}', code: 'unknown_action' },
  { name: 'huge action name', frame: JSON.stringify({ action: big(10_000) }), code: 'unknown_action' },
  // Prototype pollution attempts
  { name: '__proto__ key with a bad message', frame: '{"action":"sendmessage","__proto__":{"message":"polluted"}}', code: 'bad_request' },
  { name: 'constructor.prototype key', frame: '{"action":"sendmessage","constructor":{"prototype":{"message":"x"}}}', code: 'bad_request' },
  // Wrong types and missing fields
  { name: 'message missing', frame: '{"action":"sendmessage"}', code: 'bad_request' },
  { name: 'message a number', frame: '{"action":"sendmessage","message":5}', code: 'bad_request' },
  { name: 'message an object', frame: '{"action":"sendmessage","message":{"text":"hi"}}', code: 'bad_request' },
  { name: 'message null', frame: '{"action":"sendmessage","message":null}', code: 'bad_request' },
  { name: 'message empty', frame: '{"action":"sendmessage","message":""}', code: 'bad_request' },
  { name: 'message whitespace', frame: '{"action":"sendmessage","message":" \\n\\t "}', code: 'bad_request' },
  { name: 'room a number', frame: '{"action":"sendmessage","message":"hi","room":7}', code: 'bad_request' },
  { name: 'clientMsgId with spaces', frame: '{"action":"sendmessage","message":"hi","clientMsgId":"a b"}', code: 'bad_request' },
  { name: 'clientMsgId too long', frame: JSON.stringify({ action: 'sendmessage', message: 'hi', clientMsgId: big(65) }), code: 'bad_request' },
  { name: 'reqId a number', frame: '{"action":"ping","reqId":1}', code: 'bad_request' },
  { name: 'join without room', frame: '{"action":"joinroom"}', code: 'bad_request' },
  { name: 'room with path traversal', frame: '{"action":"joinroom","room":"../etc/passwd"}', code: 'bad_request' },
  { name: 'room with upper case', frame: '{"action":"joinroom","room":"Lobby"}', code: 'bad_request' },
  { name: 'room too long', frame: JSON.stringify({ action: 'joinroom', room: 'a'.repeat(33) }), code: 'bad_request' },
  { name: 'room with a script tag', frame: '{"action":"createroom","room":"<script>alert(1)</script>"}', code: 'bad_request' },
  { name: 'private a string', frame: '{"action":"createroom","room":"r1","private":"yes"}', code: 'bad_request' },
  { name: 'invite not an array', frame: '{"action":"createroom","room":"r1","private":true,"invite":"bob"}', code: 'bad_request' },
  { name: 'invite with a bad name', frame: '{"action":"createroom","room":"r1","private":true,"invite":["bob smith"]}', code: 'bad_request' },
  { name: 'too many invitees', frame: JSON.stringify({ action: 'createroom', room: 'r1', private: true, invite: Array.from({ length: 51 }, (_, i) => `u${i}`) }), code: 'bad_request' },
  { name: 'history before and after', frame: '{"action":"history","room":"lobby","before":5,"after":1}', code: 'bad_request' },
  { name: 'history negative after', frame: '{"action":"history","room":"lobby","after":-1}', code: 'bad_request' },
  { name: 'history fractional limit', frame: '{"action":"history","room":"lobby","limit":2.5}', code: 'bad_request' },
  { name: 'history limit too big', frame: '{"action":"history","room":"lobby","limit":1000}', code: 'bad_request' },
  { name: 'history seq as string', frame: '{"action":"history","room":"lobby","after":"5"}', code: 'bad_request' },
  { name: 'history seq beyond safe integers', frame: '{"action":"history","room":"lobby","after":1e300}', code: 'bad_request' },
  // Unicode edge cases
  { name: 'lone high surrogate', frame: '{"action":"sendmessage","message":"\\ud800"}', code: 'bad_request' },
  { name: 'lone low surrogate', frame: '{"action":"sendmessage","message":"a\\udc00b"}', code: 'bad_request' },
  { name: '4,001 emoji', frame: JSON.stringify({ action: 'sendmessage', message: '😀'.repeat(4001) }), code: 'text_too_long' },
  { name: '4,001 characters', frame: JSON.stringify({ action: 'sendmessage', message: big(4001) }), code: 'text_too_long' },
  // Sizes
  { name: 'a 30 KB string', frame: JSON.stringify({ action: 'sendmessage', message: big(30_000) }), code: 'text_too_long' },
  // Rooms that are not there
  { name: 'a room that does not exist', frame: '{"action":"joinroom","room":"atlantis"}', code: 'room_not_found' },
  { name: 'history of a missing room', frame: '{"action":"history","room":"atlantis"}', code: 'room_not_found' },
  { name: 'posting to a room not joined', frame: '{"action":"sendmessage","room":"atlantis","message":"hi"}', code: 'not_joined' },
];

/** Frames that are fine, however odd they look: they must be stored verbatim and rendered as text. */
export const ODD_BUT_VALID = [
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '{"action":"sendmessage"}',
  'ZWJ family 👨‍👩‍👧‍👦 and flags 🇳🇱🇯🇵',
  'right-to-left \u202Eevil\u202C text',
  'zero\u200Bwidth and combining e\u0301',
  'null byte \u0000 inside',
  'x'.repeat(4000),
  '😀'.repeat(4000),
];
