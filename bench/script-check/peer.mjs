// Peer: Node's own parser (V8) on the same module text, as vm.SourceTextModule
// compiles it without linking or running it. Prints microseconds per parse.
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

for (const [name, path] of [['flow.js', process.argv[2]], ['large.js', process.argv[3]]]) {
    const source = readFileSync(path, 'utf8');
    const parse = () => new vm.SourceTextModule(source, { identifier: name });
    for (let i = 0; i < 3; i++) parse();
    let n = 0;
    const start = process.hrtime.bigint();
    while (process.hrtime.bigint() - start < 2_000_000_000n) {
        parse();
        n++;
    }
    const us = Number(process.hrtime.bigint() - start) / 1000 / n;
    console.log(`node SourceTextModule ${name} (${source.length} B): ${us.toFixed(0)} µs per parse`);
}
