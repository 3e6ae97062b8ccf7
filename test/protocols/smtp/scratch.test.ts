import { it } from 'vitest';
import { startTestServer, ehloClient, addAccount, inboxMessages } from './harness.ts';
it('scratch', async () => {
  const s = await startTestServer();
  const a = await addAccount(s.app, 'alice');
  const c = await ehloClient(s.port.smtp);
  console.log(c.greeting, c.ehlo);
  const r = await c.send('x@remote.example', ['alice@example.org'], 'Subject: =?UTF-8?B?w6TDtsO8?=\r\nFrom: "X Y" <x@remote.example>\r\nMessage-ID: <abc@remote.example>\r\n\r\n.hello\r\n');
  console.log(r);
  const m = await inboxMessages(s.app, a);
  console.log(m[0].row, m[0].raw.toString());
  await c.quit();
  await s.cleanup();
});
