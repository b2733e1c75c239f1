/**
 * child_process IPC echo (forked by bench/baselines.ts childProcessIpc): sends back every message it receives.
 * Says hello first so the parent knows it is listening; exits when the parent disconnects or dies.
 */
if (typeof process.send !== 'function') {
  process.stderr.write('ipc-echo: run me with child_process.fork\n');
  process.exit(1);
}
const send = process.send.bind(process);
process.on('message', (m) => {
  send(m as object);
});
process.on('disconnect', () => process.exit(0));
send({ ready: true });
