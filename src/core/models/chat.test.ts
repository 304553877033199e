/** Chat templates from tokenizer_config.json rendered by @huggingface/jinja. */
import { describe, expect, it } from 'vitest';
import { loadChatTemplate } from './chat.ts';

const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const LLAMA2 =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] | trim }} [/INST]{% else %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}";

describe('chat templates', () => {
  it('ChatML (Qwen2): messages and the generation prompt', () => {
    const t = loadChatTemplate(JSON.stringify({ chat_template: CHATML }))!;
    const msgs = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'Hi' },
    ];
    expect(t.render(msgs)).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(t.render(msgs, { addGenerationPrompt: false })).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n',
    );
  });

  it('special tokens from tokenizer_config.json (strings or AddedToken objects), filters, a named default template', () => {
    const cfg = {
      bos_token: { content: '<s>', special: true },
      eos_token: '</s>',
      chat_template: [
        { name: 'tool_use', template: 'x' },
        { name: 'default', template: LLAMA2 },
      ],
    };
    const t = loadChatTemplate(JSON.stringify(cfg))!;
    expect(
      t.render([
        { role: 'user', content: '  Hello ' },
        { role: 'assistant', content: 'Hi!' },
        { role: 'user', content: 'More' },
      ]),
    ).toBe('<s>[INST] Hello [/INST] Hi!</s>[INST] More [/INST]');
  });

  it('none without a template; a template that does not parse is refused by the tokenizer check', () => {
    expect(loadChatTemplate(undefined)).toBeNull();
    expect(loadChatTemplate('{"bos_token": "<s>"}')).toBeNull();
    expect(() => loadChatTemplate(JSON.stringify({ chat_template: '{% for m in messages %}' }))).toThrow(/tokenizer check failed/);
  });
});
